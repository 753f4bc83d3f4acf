/**
 * One contract, two real stores: SQLite in a temporary file and a real redis-server. Every sum
 * is checked against the same records summed directly (the ledger's answer), so a roll-up that
 * loses, doubles or misfiles a request fails.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addFigures, type DayRange, dayOf, type Figures, zeroFigures } from "../../shared/console-api.ts";
import { useTestRedis } from "../../../test/support/redis-server.ts";
import { figuresOf, groupsOf } from "./aggregate.ts";
import { coverRange, daysOf } from "./periods.ts";
import { RollupQueries } from "./queries.ts";
import { RedisRollups } from "./redis.ts";
import { SqliteRollups } from "./sqlite.ts";
import type { RollupRecord, RollupRow, UsageRollups } from "./types.ts";
import { seededRandom } from "../../../test/support/seeded-random.ts";

const redis = useTestRedis();
const dir = mkdtempSync(join(tmpdir(), "ara-rollup-contract-"));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

let tenantSeq = 0;
const newTenant = () => `t${++tenantSeq}-${crypto.randomUUID().slice(0, 6)}`;
const DAY = 86_400_000;
const T0 = Date.parse("2026-01-20T10:00:00Z");

const MODELS = ["claude-sonnet-4-5", "claude-opus-4-6", "claude-haiku-4-5", "claude-stub"];
const GROUPS = [["eng"], ["eng", "ml"], [], ["sales"]];

function records(tenant: string, n: number, seed = 1): RollupRecord[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)] as T;
  return Array.from({ length: n }, (_, i) => {
    const person = Math.floor(rnd() * 7);
    const model = pick(MODELS);
    const cw5 = Math.floor(rnd() * 500);
    const cw1 = Math.floor(rnd() * 300);
    return {
      requestId: `${tenant}-req-${seed}-${i}`, time: T0 + Math.floor(rnd() * 75 * DAY), tenant, sub: `sub-${person}`, displayName: `user${person}@example.com`, username: `user${person}`, email: `User${person}@Example.com`,
      groups: GROUPS[person % GROUPS.length] as string[], model, inputTokens: Math.floor(rnd() * 5000), outputTokens: Math.floor(rnd() * 3000),
      // some responses state no TTL split: the unstated part counts as 5-minute writes
      cacheCreationInputTokens: cw5 + cw1 + (i % 5 === 0 ? 77 : 0), cacheCreation5mInputTokens: cw5, cacheCreation1hInputTokens: cw1, cacheReadInputTokens: Math.floor(rnd() * 20000), webSearchRequests: 0,
      costMicroUsd: model === "claude-stub" ? null : Math.floor(rnd() * 90_000),
    };
  });
}

/** The ledger's answer: the records in the range summed by a key. */
function expected(rs: readonly RollupRecord[], range: DayRange, keys: (r: RollupRecord) => string[]): Map<string, Figures> {
  const out = new Map<string, Figures>();
  for (const r of rs) {
    const day = dayOf(r.time);
    if (day < range.from || day > range.to) continue;
    for (const k of keys(r)) out.set(k, addFigures(out.get(k) ?? zeroFigures(), figuresOf(r)));
  }
  return out;
}

const asMap = (rows: RollupRow[], key: (r: RollupRow) => string) => new Map(rows.map((r) => [key(r), r.figures]));

const backends: { name: string; open(): UsageRollups }[] = [
  { name: "sqlite", open: () => new SqliteRollups(join(dir, "rollups.db")) },
  { name: "redis", open: () => new RedisRollups(redis.url) },
];

for (const backend of backends) {
  describe(`UsageRollups contract: ${backend.name}`, () => {
    let rollups: UsageRollups;
    beforeAll(() => {
      rollups = backend.open();
    });
    afterAll(async () => {
      await rollups.close();
    });

    test("every level over months and days equals the records summed directly", async () => {
      const tenant = newTenant();
      const rs = records(tenant, 600);
      for (let i = 0; i < rs.length; i += 97) await rollups.add(rs.slice(i, i + 97));
      for (const range of [{ from: "2026-01-20", to: "2026-04-04" }, { from: "2026-02-01", to: "2026-02-28" }, { from: "2026-01-31", to: "2026-03-01" }, { from: "2026-03-07", to: "2026-03-07" }]) {
        const periods = coverRange(range);
        expect(asMap(await rollups.sum(tenant, "person", periods), (r) => r.id)).toEqual(expected(rs, range, (r) => [r.sub]));
        expect(asMap(await rollups.sum(tenant, "model", periods), (r) => r.model)).toEqual(expected(rs, range, (r) => [r.model]));
        expect(asMap(await rollups.sum(tenant, "group_model", periods), (r) => `${r.id}/${r.model}`)).toEqual(expected(rs, range, (r) => groupsOf(r).map((g) => `${g}/${r.model}`)));
        expect(asMap(await rollups.sum(tenant, "person_model", periods, "sub-3"), (r) => r.model)).toEqual(expected(rs, range, (r) => (r.sub === "sub-3" ? [r.model] : [])));
        expect(asMap(await rollups.sum(tenant, "person", periods, "sub-2"), (r) => r.id)).toEqual(expected(rs, range, (r) => (r.sub === "sub-2" ? [r.sub] : [])));
      }
      // a group's rows alone; the no-group bucket is ""
      const feb = coverRange({ from: "2026-02-01", to: "2026-02-28" });
      expect(asMap(await rollups.sum(tenant, "group_model", feb, ""), (r) => `${r.id}/${r.model}`)).toEqual(expected(rs, { from: "2026-02-01", to: "2026-02-28" }, (r) => (r.groups.length === 0 ? [`/${r.model}`] : [])));
    });

    test("series: one row per day and model (tenant) and per day and model (one person)", async () => {
      const tenant = newTenant();
      const rs = records(tenant, 300, 7);
      await rollups.add(rs);
      const range = { from: "2026-02-10", to: "2026-03-20" };
      const series = await rollups.series(tenant, "model", daysOf(range));
      expect(new Map(series.map((r) => [`${r.period}/${r.model}`, r.figures]))).toEqual(expected(rs, range, (r) => [`${dayOf(r.time)}/${r.model}`]));
      const mine = await rollups.series(tenant, "person_model", daysOf(range), "sub-1");
      expect(new Map(mine.map((r) => [`${r.period}/${r.model}`, r.figures]))).toEqual(expected(rs, range, (r) => (r.sub === "sub-1" ? [`${dayOf(r.time)}/${r.model}`] : [])));
    });

    test("a record written twice (a retry, a spool replay) counts once; the rest of its batch counts", async () => {
      const tenant = newTenant();
      const [a, b, c] = records(tenant, 3, 3) as [RollupRecord, RollupRecord, RollupRecord];
      await rollups.add([a, b]);
      await rollups.add([b, c, a]);
      await rollups.add([c]);
      const all = await rollups.sum(tenant, "model", [...new Set([a, b, c].map((r) => dayOf(r.time)))]);
      expect(all.reduce((n, r) => n + r.figures.requests, 0)).toBe(3);
      expect(all.reduce((n, r) => n + r.figures.cost_micro_usd, 0)).toBe([a, b, c].reduce((n, r) => n + (r.costMicroUsd ?? 0), 0));
    });

    test("large sums stay exact (micro-dollars past 2^32, tokens past 10^14)", async () => {
      const tenant = newTenant();
      const big = records(tenant, 3, 11).map((r, i) => ({ ...r, time: T0, model: "m", costMicroUsd: 2 ** 51 + i, inputTokens: 10 ** 14 + i }));
      await rollups.add(big);
      const [row] = await rollups.sum(tenant, "model", [dayOf(T0)]);
      expect(row?.figures.cost_micro_usd).toBe(3 * 2 ** 51 + 3);
      expect(row?.figures.input_tokens).toBe(3 * 10 ** 14 + 3);
    });

    test("addCells adds to what is there (a seed over live data doubles nothing it should not)", async () => {
      const tenant = newTenant();
      const f = { ...zeroFigures(), requests: 2, cost_micro_usd: 500 };
      const people = [{ sub: "s1", name: "one@example.com", groups: ["g"], lastDay: "2026-02-01" }];
      await rollups.addCells(tenant, [{ level: "model", period: "2026-02-01", id: "", model: "m", figures: f }], people);
      await rollups.addCells(tenant, [{ level: "model", period: "2026-02-01", id: "", model: "m", figures: f }], []);
      expect((await rollups.sum(tenant, "model", ["2026-02-01"]))[0]?.figures).toEqual({ ...zeroFigures(), requests: 4, cost_micro_usd: 1000 });
      expect(await rollups.people(tenant)).toEqual(people);
    });

    test("people: the latest name and groups; a username or email once known is kept", async () => {
      const tenant = newTenant();
      const [r] = records(tenant, 1, 5) as [RollupRecord];
      await rollups.add([{ ...r, requestId: "a", time: T0, displayName: "old@example.com", groups: ["old"], username: "alice", email: "Alice@Example.com" }]);
      await rollups.add([{ ...r, requestId: "b", time: T0 + 2 * DAY, displayName: "new@example.com", groups: [], username: undefined, email: undefined } as RollupRecord]);
      await rollups.add([{ ...r, requestId: "c", time: T0 + DAY, displayName: "middle@example.com", groups: ["middle"] }]);
      const [p] = await rollups.people(tenant);
      expect(p).toEqual({ sub: r.sub, name: "new@example.com", username: "alice", email: "alice@example.com", groups: [], lastDay: dayOf(T0 + 2 * DAY) });
    });

    test("queries: overview, tables and a person's page equal the records summed directly", async () => {
      const tenant = newTenant();
      const rs = records(tenant, 500, 21);
      await rollups.add(rs);
      const q = new RollupQueries(rollups);
      const today = "2026-03-18";
      const range = { from: "2026-02-01", to: today };
      const byModel = expected(rs, range, (r) => [r.model]);
      const total = [...byModel.values()].reduce((acc, f) => addFigures(acc, f), zeroFigures());
      const ov = await q.overview(tenant, range, today, [{ subject: { kind: "user", id: "USER1" }, period: "month", unit: "usd", limit: 5_000_000, soft: false }]);
      expect(ov.range_totals).toEqual(total);
      expect(ov.today.figures).toEqual([...expected(rs, { from: today, to: today }, () => ["x"]).values()][0] ?? zeroFigures());
      expect(ov.month.figures).toEqual(expected(rs, { from: "2026-03-01", to: "2026-03-31" }, () => ["x"]).get("x") ?? zeroFigures());
      expect(ov.last_month.figures).toEqual(expected(rs, { from: "2026-02-01", to: "2026-02-28" }, () => ["x"]).get("x") ?? zeroFigures());
      expect(ov.last_month.to_date).toEqual(expected(rs, { from: "2026-02-01", to: "2026-02-18" }, () => ["x"]).get("x") ?? zeroFigures());
      expect(ov.daily.days).toHaveLength(46);
      expect(ov.daily.cost_micro_usd.flat().reduce((a, b) => a + b, 0)).toBe(total.cost_micro_usd);
      expect(ov.daily.requests.reduce((a, b) => a + b, 0)).toBe(total.requests);
      const byPerson = expected(rs, range, (r) => [r.sub]);
      const topSub = [...byPerson].sort((a, b) => b[1].cost_micro_usd - a[1].cost_micro_usd)[0]?.[0];
      expect(ov.top_people[0]?.sub).toBe(topSub as string);
      expect(ov.top_models.map((m) => m.model)).toEqual([...byModel].sort((a, b) => b[1].cost_micro_usd - a[1].cost_micro_usd).slice(0, 5).map(([m]) => m));

      // people: search by email's case-insensitive part, sort by requests asc, page of 2
      const people = await q.peopleTable(tenant, { range, q: "EXAMPLE.com", sort: "requests", dir: "asc", offset: 1, limit: 2 }, [], today);
      const sorted = [...byPerson].sort((a, b) => a[1].requests - b[1].requests || `user${a[0].slice(4)}@example.com`.localeCompare(`user${b[0].slice(4)}@example.com`));
      expect(people.total).toBe(byPerson.size);
      expect(people.rows.map((r) => r.sub)).toEqual(sorted.slice(1, 3).map(([s]) => s));
      expect(people.totals).toEqual(total);
      // a user budget named by username (any case) burns with the person's month cost
      const burnt = await q.peopleTable(tenant, { range, q: "user1", sort: "name", dir: "asc", offset: 0, limit: 10 }, [{ subject: { kind: "user", id: "USER1" }, period: "month", unit: "usd", limit: 5_000_000, soft: false }], today);
      const march1 = expected(rs, { from: "2026-03-01", to: "2026-03-31" }, (r) => [r.sub]).get("sub-1") ?? zeroFigures();
      expect(burnt.rows[0]?.budget).toEqual({ period: "month", unit: "usd", limit: 5_000_000, used: march1.cost_micro_usd, fraction: march1.cost_micro_usd / 5_000_000, soft: false });
      expect(burnt.rows[0]?.username).toBe("user1");

      const groups = await q.groupsTable(tenant, { range, q: "", sort: "name", dir: "asc", offset: 0, limit: 50 });
      expect(new Map(groups.rows.map(({ group, budget: _, ...f }) => [group, f]))).toEqual(expected(rs, range, (r) => groupsOf(r)));
      const models = await q.modelsTable(tenant, { range, q: "haiku", sort: "cost_micro_usd", dir: "desc", offset: 0, limit: 50 });
      expect(models.rows.map((r) => r.model)).toEqual(["claude-haiku-4-5"]);

      const person = await q.person(tenant, "sub-4", range);
      expect(person?.totals).toEqual(byPerson.get("sub-4") as Figures);
      expect(person?.person).toMatchObject({ sub: "sub-4", username: "user4", email: "user4@example.com" });
      expect(await q.person(tenant, "nobody", range)).toBeUndefined();
    });

    test("person_model is read one person at a time", async () => {
      await expect(rollups.sum(newTenant(), "person_model", ["2026-01-01"])).rejects.toMatchObject({ code: "ROLLUP_INPUT" });
    });
  });
}

test("sqlite: prune drops days and months past retention, keeps the rest", async () => {
  const rollups = new SqliteRollups(":memory:");
  const tenant = newTenant();
  const f = { ...zeroFigures(), requests: 1 };
  await rollups.addCells(tenant, [
    { level: "model", period: "2024-01-05", id: "", model: "m", figures: f },
    { level: "model", period: "2024-01", id: "", model: "m", figures: f },
    { level: "model", period: "2026-11-01", id: "", model: "m", figures: f },
    { level: "model", period: "2026-11", id: "", model: "m", figures: f },
  ], []);
  await rollups.prune(Date.parse("2026-11-29T00:00:00Z"));
  expect((await rollups.sum(tenant, "model", ["2024-01-05", "2024-01", "2026-11-01", "2026-11"])).map((r) => r.figures.requests)).toEqual([2]);
  await rollups.close();
});

test("redis: cells expire after retention (day and month keys carry a TTL)", async () => {
  const rollups = new RedisRollups(redis.url, { prefix: "ttl" });
  const now = Date.now();
  await rollups.add(records("ttlt", 1, 9).map((r) => ({ ...r, time: now })));
  const { RedisClient } = await import("bun");
  const client = new RedisClient(redis.url);
  const keys = (await client.send("KEYS", ["ttl:*:ru:*"])) as string[];
  expect(keys.length).toBeGreaterThan(5);
  for (const k of keys) {
    if (k.endsWith(":people")) continue;
    const ttl = Number(await client.send("PTTL", [k]));
    expect(ttl).toBeGreaterThan(30 * DAY);
  }
  client.close();
  await rollups.close();
});

test("redis: a batch of many records goes in chunks (one script call holds the server briefly), each counted once; a replay across chunks counts only the new", async () => {
  const rollups = new RedisRollups(redis.url, { prefix: "chunks", cellsPerCall: 48 }); // 3 records a call
  const { RedisClient } = await import("bun");
  const client = new RedisClient(redis.url);
  const scriptCalls = async () => {
    const stats = String(await client.send("INFO", ["commandstats"]));
    return ["evalsha", "eval"].reduce((n, cmd) => n + Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
  };
  const batch = records("chunkt", 10, 5);
  const before = await scriptCalls();
  expect(await rollups.addCounted(batch)).toBe(10);
  expect((await scriptCalls()) - before).toBe(4); // 3 + 3 + 3 + 1
  const total = (await rollups.sum("chunkt", "model", [...new Set(batch.map((r) => dayOf(r.time)))])).reduce((n, r) => n + r.figures.requests, 0);
  expect(total).toBe(10);
  // two seen before, in different chunks, with three new ones
  const again = [batch[0]!, ...records("chunkt", 3, 77), batch[7]!];
  expect(await rollups.addCounted(again)).toBe(3);
  const after = (await rollups.sum("chunkt", "model", [...new Set([...batch, ...again].map((r) => dayOf(r.time)))])).reduce((n, r) => n + r.figures.requests, 0);
  expect(after).toBe(13);
  client.close();
  await rollups.close();
});
