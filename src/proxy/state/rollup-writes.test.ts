/**
 * The usage roll-ups written with the ledger, through the real state path (openState: the SQLite
 * writer thread, the Redis state with its spool), with a real SQLite file and real redis-servers:
 * after every scenario the roll-ups' totals per person, model, group and day equal the ledger's
 * own usage report for the same range, so a record lost, counted twice or misfiled fails.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { dayOf, type Figures } from "../../shared/console-api.ts";
import { startTestRedis, type TestRedis } from "../../../test/support/redis-server.ts";
import type { Person } from "../model/person.ts";
import type { UsageRecord, UsageRow } from "../model/usage.ts";
import { daysOf, monthOf } from "../rollup/periods.ts";
import { RedisRollups } from "../rollup/redis.ts";
import type { RollupRow } from "../rollup/types.ts";
import { openState } from "./open.ts";
import { RedisState } from "./redis.ts";
import { ResilientState } from "./resilient.ts";
import { SqliteState } from "./sqlite.ts";
import type { GatewayState, UsageWrite } from "./types.ts";
import { seededRandom } from "../../../test/support/seeded-random.ts";

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), "ara-rollup-writes-"));
let redis: TestRedis;
/** A second server for the roll-ups alone, stopped to fail them while the ledger's server answers. */
let rollupRedis: TestRedis;
beforeAll(async () => {
  // persistent: what the roll-ups held before the stop is there after
  [redis, rollupRedis] = await Promise.all([startTestRedis(), startTestRedis({ persistent: true })]);
});
afterAll(async () => {
  await Promise.all([redis?.dispose(), rollupRedis?.dispose()]);
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
const newTenant = () => `t${++seq}-${crypto.randomUUID().slice(0, 6)}`;

const MODELS = ["claude-sonnet-4-5", "claude-opus-4-6", "claude-haiku-4-5", "claude-unpriced"];
const GROUPS = [["eng"], ["eng", "ml"], [], ["sales"]];
/** The last 60 days up to today: older and younger than the roll-ups' 40-day request-id memory. */
const SPAN_DAYS = 60;

function records(tenant: string, n: number, seed: number, spanDays = SPAN_DAYS): UsageRecord[] {
  const rnd = seededRandom(seed);
  const start = Date.parse(`${dayOf(Date.now())}T00:00:00Z`) - (spanDays - 1) * DAY;
  return Array.from({ length: n }, (_, i) => {
    const p = Math.floor(rnd() * 5);
    const model = MODELS[Math.floor(rnd() * MODELS.length)] as string;
    const cw5 = Math.floor(rnd() * 400);
    const cw1 = Math.floor(rnd() * 200);
    return {
      requestId: `${tenant}-${seed}-${i}`, time: Math.min(Date.now(), start + Math.floor(rnd() * spanDays * DAY)), tenant, sub: `sub-${p}`, username: `user${p}`, email: `user${p}@example.com`,
      displayName: `user${p}@example.com`, groups: GROUPS[p % GROUPS.length] as string[], model, inputTokens: Math.floor(rnd() * 4000), outputTokens: Math.floor(rnd() * 2000),
      // every fifth response states no TTL split: the roll-ups count the rest as 5-minute writes
      cacheCreationInputTokens: cw5 + cw1 + (i % 5 === 0 ? 50 : 0), cacheCreation5mInputTokens: cw5, cacheCreation1hInputTokens: cw1, cacheReadInputTokens: Math.floor(rnd() * 9000),
      webSearchRequests: 0, costMicroUsd: model === "claude-unpriced" ? null : Math.floor(rnd() * 50_000),
    };
  });
}

const asRecords = (rs: readonly UsageRecord[]): UsageWrite[] => rs.map((record) => ({ kind: "record", record }));

/** The figures both sides can state: the roll-ups split cache writes by TTL; the ledger gives the total and the 1-hour part. */
const fromLedger = (r: UsageRow) => [r.requests, r.inputTokens, r.outputTokens, r.cacheCreationInputTokens, r.cacheCreation1hInputTokens, r.cacheReadInputTokens, r.costMicroUsd, r.unpricedRequests];
const fromRollups = (f: Figures) => [f.requests, f.input_tokens, f.output_tokens, f.cache_write_5m_tokens + f.cache_write_1h_tokens, f.cache_write_1h_tokens, f.cache_read_tokens, f.cost_micro_usd, f.unpriced_requests];

function summed(rows: readonly { key: string; figures: Figures }[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const { key, figures } of rows) {
    const f = fromRollups(figures);
    const known = out.get(key);
    out.set(key, known ? known.map((v, i) => v + (f[i] as number)) : f);
  }
  return out;
}

const byKey = (rows: readonly UsageRow[]) => new Map(rows.map((r) => [r.key, fromLedger(r)]));

/** The roll-ups equal the ledger's report over the span: by person, model, group and day, per person by day, and a whole month. */
async function expectRollupsEqualLedger(state: GatewayState, tenant: string, expectedRequests?: number): Promise<void> {
  const until = dayOf(Date.now());
  const since = dayOf(Date.now() - (SPAN_DAYS - 1) * DAY);
  const days = daysOf({ from: since, to: until });
  const ledger = (by: "user" | "model" | "group" | "day", sub?: string) => state.usageReport({ tenant, since, until, by, ...(sub ? { sub } : {}) });
  const rollups = state.rollups;
  const rows = (rs: RollupRow[], key: (r: RollupRow) => string) => rs.map((r) => ({ key: key(r), figures: r.figures }));

  const people = await ledger("user");
  expect(summed(rows(await rollups.sum(tenant, "person", days), (r) => r.id))).toEqual(byKey(people));
  expect(summed(rows(await rollups.sum(tenant, "model", days), (r) => r.model))).toEqual(byKey(await ledger("model")));
  expect(summed(rows(await rollups.sum(tenant, "group_model", days), (r) => r.id))).toEqual(byKey(await ledger("group")));
  const daily = await rollups.series(tenant, "model", days);
  expect(summed(daily.map((r) => ({ key: r.period, figures: r.figures })))).toEqual(byKey(await ledger("day")));
  for (const person of people) {
    const theirs = await rollups.series(tenant, "person_model", days, person.key);
    expect(summed(theirs.map((r) => ({ key: r.period, figures: r.figures })))).toEqual(byKey(await ledger("day", person.key)));
  }
  // the month cells hold the same as their days
  const month = monthOf(until);
  const monthDays = days.filter((d) => d.startsWith(month));
  expect(summed(rows(await rollups.sum(tenant, "model", [month]), (r) => r.model))).toEqual(summed(rows(await rollups.sum(tenant, "model", monthDays), (r) => r.model)));
  const total = people.reduce((n, p) => n + p.requests, 0);
  if (expectedRequests !== undefined) expect(total).toBe(expectedRequests);
  // the people as the IdP names them
  const named = await rollups.people(tenant);
  expect(named.map((p) => p.sub).sort()).toEqual(people.map((p) => p.key).sort());
  for (const p of named) expect(p.username).toBe(`user${p.sub.slice(4)}`);
}

const alice = (tenant: string): Person => ({ tenant, sub: "sub-0", username: "user0", email: "user0@example.com", displayName: "user0@example.com", groups: ["eng"] });

/** Batches as the usage batcher sends them, settles among them, then the same batches again (a replay): each record counted once. */
async function writeWithReplay(state: GatewayState, rs: readonly UsageRecord[]): Promise<void> {
  const batches: UsageWrite[][] = [];
  for (let i = 0; i < rs.length; i += 37) {
    const batch = asRecords(rs.slice(i, i + 37));
    // one settle per batch (a reservation made for the first record's person)
    const first = (batch[0] as { record: UsageRecord }).record;
    const reserved = await state.reserve({ ...alice(first.tenant), sub: first.sub, groups: first.groups }, { microUsd: 1000, tokens: 10 });
    if (!reserved.ok) throw new Error("reservation refused");
    batch[0] = { kind: "settle", reservation: reserved.reservation, record: first };
    batches.push(batch);
  }
  for (const b of batches) await state.writeUsage(b);
  // replayed: the same request ids, in batches of another shape, and one by one
  await state.writeUsage(batches.flat().slice(0, 50));
  for (const w of batches.flat().slice(0, 5)) await state.writeUsage([w]);
}

describe("SQLite: the roll-ups in the ledger's transaction", () => {
  for (const where of ["a file (writer thread)", "memory"]) {
    test(`${where}: batches, settles and replays through the state: roll-ups equal the ledger, each request once`, async () => {
      const tenant = newTenant();
      const url = where === "memory" ? "sqlite::memory:" : `sqlite:${join(dir, `${tenant}.db`)}`;
      const state = openState(url, { spool: { dir: join(dir, `${tenant}-spool`) } });
      try {
        const rs = records(tenant, 400, 1);
        await writeWithReplay(state, rs);
        await expectRollupsEqualLedger(state, tenant, rs.length);
      } finally {
        await state.close();
      }
    });
  }

  test("a file's roll-ups are readable from a second process's connection (what another worker serves the console from)", async () => {
    const tenant = newTenant();
    const file = join(dir, `${tenant}.db`);
    const writer = new SqliteState(file);
    const reader = new SqliteState(file);
    try {
      const rs = records(tenant, 120, 2);
      await writer.writeUsage(asRecords(rs));
      await expectRollupsEqualLedger(reader, tenant, rs.length);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  /** A ledger written before the roll-ups existed: the state's own file with its roll-up tables dropped. */
  async function oldLedger(file: string, tenant: string, rs: readonly UsageRecord[]): Promise<void> {
    const before = new SqliteState(file, { rollupUpkeep: false });
    await before.writeUsage(asRecords(rs));
    const people = [...new Map(rs.map((r) => [r.sub, r])).values()];
    for (const r of people) await before.notePerson({ tenant, sub: r.sub, username: r.username as string, email: r.email as string, displayName: r.displayName, firstSeen: r.time, lastSeen: r.time });
    await before.close();
    const db = new Database(file);
    db.exec("PRAGMA busy_timeout = 5000");
    for (const t of ["rollup_person", "rollup_person_model", "rollup_group_model", "rollup_model", "rollup_people", "rollup_seen", "rollup_meta"]) db.exec(`DROP TABLE ${t}`);
    db.close();
  }

  test("backfill: a ledger older than the roll-ups is counted once at open; records written meanwhile are not counted twice; a second run, a reopen and a concurrent run change nothing", async () => {
    const tenant = newTenant();
    const file = join(dir, `${tenant}.db`);
    const old = records(tenant, 4500, 3); // more than two backfill steps
    await oldLedger(file, tenant, old);

    const a = new SqliteState(file, { rollupUpkeep: false });
    const b = new SqliteState(file, { rollupUpkeep: false });
    try {
      // written after the upgrade, before the backfill ran: counted as they are inserted
      const fresh = records(tenant, 80, 4);
      await a.writeUsage(asRecords(fresh));
      const [ra, rb] = await Promise.all([a.maintainRollups(), b.maintainRollups()]);
      expect(ra.backfilled + rb.backfilled).toBe(old.length);
      await expectRollupsEqualLedger(a, tenant, old.length + fresh.length);
      expect((await a.maintainRollups()).backfilled).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    // reopened (with the background upkeep on): nothing planned again
    const c = new SqliteState(file);
    try {
      expect((await c.maintainRollups()).backfilled).toBe(0);
      await expectRollupsEqualLedger(c, tenant, old.length + 80);
    } finally {
      await c.close();
    }
  });

  test("backfill runs by itself when the state opens on an old ledger", async () => {
    const tenant = newTenant();
    const file = join(dir, `${tenant}.db`);
    const old = records(tenant, 300, 5);
    await oldLedger(file, tenant, old);
    const state = openState(`sqlite:${file}`, { spool: { dir: join(dir, `${tenant}-spool`) } });
    try {
      const counted = async () => (await state.rollups.sum(tenant, "model", daysOf({ from: dayOf(Date.now() - (SPAN_DAYS - 1) * DAY), to: dayOf(Date.now()) }))).reduce((n, r) => n + r.figures.requests, 0);
      for (const deadline = Date.now() + 10_000; (await counted()) < old.length && Date.now() < deadline; ) await Bun.sleep(20);
      await expectRollupsEqualLedger(state, tenant, old.length);
    } finally {
      await state.close();
    }
  });

  test("prune: at most once a UTC day per file; cells past the retention go, months are kept longer", async () => {
    const tenant = newTenant();
    const state = new SqliteState(join(dir, `${tenant}.db`), { rollupUpkeep: false });
    try {
      const longAgo = Date.now() - 500 * DAY; // older than the 432 days of days kept, within the 25 months
      await state.recordUsage({ ...(records(tenant, 1, 6)[0] as UsageRecord), time: longAgo });
      const day = dayOf(longAgo);
      const requests = async (period: string) => (await state.rollups.sum(tenant, "model", [period])).reduce((n, r) => n + r.figures.requests, 0);
      expect(await requests(day)).toBe(1);
      expect((await state.maintainRollups()).pruned).toBe(true);
      expect(await requests(day)).toBe(0);
      expect(await requests(monthOf(day))).toBe(1);
      expect((await state.maintainRollups()).pruned).toBe(false);
      expect((await state.maintainRollups(Date.now() + DAY)).pruned).toBe(true);
    } finally {
      await state.close();
    }
  });
});

describe("Redis: the roll-ups after the ledger, through the spool when they fail", () => {
  test("batches, settles and replays through the state: roll-ups equal the ledger, each request once", async () => {
    const tenant = newTenant();
    const state = openState(redis.url, { spool: { dir: join(dir, `${tenant}-spool`) } });
    try {
      const rs = records(tenant, 400, 7);
      await writeWithReplay(state, rs);
      await expectRollupsEqualLedger(state, tenant, rs.length);
    } finally {
      await state.close();
    }
  });

  test("the roll-ups' server down while the ledger's answers: the writes are spooled, replayed once it is back, and counted once in both", async () => {
    const tenant = newTenant();
    const spooled: string[] = [];
    const state = openState(redis.url, {
      redis: { commandTimeoutMs: 500, rollups: new RedisRollups(rollupRedis.url, { commandTimeoutMs: 500 }) },
      hooks: { spooled: (e) => spooled.push(e.kind) },
      spool: { dir: join(dir, `${tenant}-spool`), probeMs: 100_000 },
    }) as ResilientState;
    try {
      const rs = records(tenant, 150, 8);
      await state.writeUsage(asRecords(rs.slice(0, 50)));
      await rollupRedis.stop();
      // the ledger takes these; the roll-ups cannot: the batch fails as unavailable and each write goes to the spool
      await state.writeUsage(asRecords(rs.slice(50, 100)));
      expect(spooled.length).toBe(50);
      expect(state.ready()).toBe(false);
      await rollupRedis.start();
      for (const deadline = Date.now() + 5000; !state.ready() && Date.now() < deadline; await Bun.sleep(50)) await state.tryRecover();
      expect(state.queued).toBe(0);
      await state.writeUsage(asRecords(rs.slice(100)));
      await expectRollupsEqualLedger(state, tenant, rs.length);
    } finally {
      await state.close();
    }
  });

  /** A ledger written before the roll-ups existed: the tenant's roll-up keys deleted (markers, cells, people, backfill state). */
  async function forgetRollups(url: string, tenant: string): Promise<void> {
    const client = new RedisClient(url);
    const keys = (await client.send("KEYS", [`ara:{${encodeURIComponent(tenant)}}:ru:*`])) as string[];
    if (keys.length) await client.send("DEL", keys);
    client.close();
  }

  test("backfill from the ledger's stream: once, by the tenant's first write after the upgrade; a rerun after a crash counts nothing twice", async () => {
    const tenant = newTenant();
    const before = new RedisState(redis.url);
    const old = records(tenant, 2600, 9); // 60 days: some within the 40-day request-id memory, most not
    await before.writeUsage(asRecords(old));
    await before.close();
    await forgetRollups(redis.url, tenant);

    const state = new RedisState(redis.url);
    const sibling = new RedisState(redis.url); // another replica: one of the two runs it (a claim)
    try {
      await Promise.all([state.writeUsage(asRecords(records(tenant, 1, 10))), sibling.writeUsage(asRecords(records(tenant, 1, 11)))]);
      await Promise.all([state.backfillsSettled(), sibling.backfillsSettled()]);
      await expectRollupsEqualLedger(state, tenant, old.length + 2);
      // done for good
      expect(await state.backfillRollups(tenant)).toBe(0);
      // a crash before the cursor and the done mark were written: the steps run again and count nothing
      const client = new RedisClient(redis.url);
      await client.send("HDEL", [`ara:{${encodeURIComponent(tenant)}}:ru:backfill`, "done", "cursor"]);
      client.close();
      expect(await state.backfillRollups(tenant)).toBe(0);
      await expectRollupsEqualLedger(state, tenant, old.length + 2);
    } finally {
      await Promise.all([state.close(), sibling.close()]);
    }
  });
});
