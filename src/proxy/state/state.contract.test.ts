/**
 * One contract, two real stores: SQLite in a temporary file and a real redis-server. Separate
 * `bun` processes race each other for budget and rate-limit checks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RESERVATION_TTL_MS } from "../model/budgets.ts";
import { dayKey } from "../model/periods.ts";
import type { Person } from "../model/person.ts";
import { WINDOW_MS } from "../model/rate-windows.ts";
import type { UsageRecord } from "../model/usage.ts";
import { type GatewayState, StateError } from "./types.ts";
import { RedisState } from "./redis.ts";
import { SqliteState } from "./sqlite.ts";
import { useTestRedis } from "../../../test/support/redis-server.ts";

const redis = useTestRedis();
const dir = mkdtempSync(join(tmpdir(), "ara-state-contract-"));
const dbFile = join(dir, "state.db");

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

let tenantSeq = 0;
const newTenant = () => `t${++tenantSeq}-${crypto.randomUUID().slice(0, 6)}`;

const person = (tenant: string, sub: string, extra: Partial<Person> = {}): Person => ({ tenant, sub, displayName: `${sub}@example.com`, email: `${sub}@Example.com`, username: sub, groups: [], ...extra });

const T0 = Date.parse("2026-11-10T10:00:00Z");
const DAY = 86_400_000;
let reqSeq = 0;
function record(p: Person, fields: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: `req_${++reqSeq}`, time: T0, tenant: p.tenant, sub: p.sub, displayName: p.displayName, groups: p.groups, model: "claude-sonnet-4-5",
    inputTokens: 10, outputTokens: 100, cacheCreationInputTokens: 1000, cacheCreation5mInputTokens: 400, cacheCreation1hInputTokens: 600, cacheReadInputTokens: 20000, webSearchRequests: 0,
    costMicroUsd: 12_345, ...fields,
  };
}

async function runWorkers(url: string, op: "reserve" | "admit", job: Record<string, unknown>, processes = 2): Promise<number[]> {
  const startAt = Date.now() + 1200; // every process connected before the race
  const procs = Array.from({ length: processes }, () =>
    Bun.spawn([process.execPath, join(import.meta.dir, "..", "..", "..", "test", "support", "state-contract-worker.ts"), url, op, JSON.stringify({ ...job, startAt })], { stdout: "pipe", stderr: "pipe" }),
  );
  return Promise.all(
    procs.map(async (p) => {
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      if (code !== 0) throw new Error(`worker failed (${code}): ${err}`);
      return (JSON.parse(out) as { accepted: number }).accepted;
    }),
  );
}

const backends: { name: string; open(): GatewayState; url(): string }[] = [
  { name: "sqlite", open: () => new SqliteState(dbFile), url: () => `sqlite:${dbFile}` },
  { name: "redis", open: () => new RedisState(redis.url), url: () => redis.url },
];

for (const backend of backends) {
  describe(`GatewayState contract: ${backend.name}`, () => {
    let state: GatewayState;
    beforeAll(() => {
      state = backend.open();
    });
    afterAll(async () => {
      await state.close();
    });

    test("ledger totals equal what was recorded, cache tokens included, by user, group, model, day and upstream", async () => {
      const tenant = newTenant();
      const alice = person(tenant, "alice", { groups: ["eng", "ml"] });
      const bob = person(tenant, "bob", { groups: ["eng"] });
      const carol = person(tenant, "carol");
      const records = [
        record(alice, { upstream: "anthropic-a" }), record(alice, { model: "claude-opus-4-6", time: T0 + DAY, costMicroUsd: 50_000, upstream: "bedrock-us" }), record(bob, { time: T0 + 2 * DAY, upstream: "anthropic-a" }),
        // a record without an upstream: written before pools, counted under ""
        record(bob, { model: "claude-stub", costMicroUsd: null }), record(carol, { webSearchRequests: 2, upstream: "anthropic-a" }), record(alice, { time: T0 + 40 * DAY }),
      ];
      for (const r of records) await state.recordUsage(r);
      await state.recordUsage(records[0] as UsageRecord); // a retried write is not counted twice
      const range = { tenant, since: "2026-11-01", until: "2026-11-30" };
      const inRange = records.slice(0, 5);
      const sum = (rs: UsageRecord[], f: keyof UsageRecord) => rs.reduce((a, r) => a + Number(r[f] ?? 0), 0);

      const byUser = await state.usageReport({ ...range, by: "user" });
      expect(byUser.map((r) => r.key)).toEqual(["alice", "bob", "carol"]);
      const a = byUser[0]!;
      expect(a).toMatchObject({ displayName: "alice@example.com", requests: 2, inputTokens: 20, outputTokens: 200, cacheCreationInputTokens: 2000, cacheCreation5mInputTokens: 800, cacheCreation1hInputTokens: 1200, cacheReadInputTokens: 40000, costMicroUsd: 62_345, unpricedRequests: 0 });
      expect(byUser[1]).toMatchObject({ requests: 2, costMicroUsd: 12_345, unpricedRequests: 1 });
      for (const f of ["inputTokens", "outputTokens", "cacheCreationInputTokens", "cacheReadInputTokens", "webSearchRequests"] as const) {
        expect(byUser.reduce((s, r) => s + r[f], 0)).toBe(sum(inRange, f));
      }
      expect(byUser.reduce((s, r) => s + r.costMicroUsd, 0)).toBe(sum(inRange, "costMicroUsd"));

      const byGroup = await state.usageReport({ ...range, by: "group" });
      expect(byGroup.map((r) => [r.key, r.requests])).toEqual([["", 1], ["eng", 4], ["ml", 2]]);
      const byModel = await state.usageReport({ ...range, by: "model" });
      expect(byModel.map((r) => [r.key, r.requests])).toEqual([["claude-opus-4-6", 1], ["claude-sonnet-4-5", 3], ["claude-stub", 1]]);
      const byDay = await state.usageReport({ ...range, by: "day" });
      expect(byDay.map((r) => [r.key, r.requests])).toEqual([["2026-11-10", 3], ["2026-11-11", 1], ["2026-11-12", 1]]);
      expect(byDay.reduce((s, r) => s + r.cacheReadInputTokens, 0)).toBe(sum(inRange, "cacheReadInputTokens"));
      const byUpstream = await state.usageReport({ ...range, by: "upstream" });
      expect(byUpstream.map((r) => [r.key, r.requests])).toEqual([["", 1], ["anthropic-a", 3], ["bedrock-us", 1]]);
      expect(byUpstream.reduce((s, r) => s + r.costMicroUsd, 0)).toBe(sum(inRange, "costMicroUsd"));

      const oneDay = await state.usageReport({ tenant, since: "2026-11-11", until: "2026-11-11", by: "user" });
      expect(oneDay.map((r) => [r.key, r.requests])).toEqual([["alice", 1]]);
      const december = await state.usageReport({ tenant, since: "2026-12-01", until: "2026-12-31", by: "user" });
      expect(december.map((r) => [r.key, r.requests])).toEqual([["alice", 1]]);
      const mine = await state.usageReport({ ...range, by: "day", sub: "alice" });
      expect(mine.map((r) => [r.key, r.requests])).toEqual([["2026-11-10", 1], ["2026-11-11", 1]]);
      expect(await state.usageReport({ ...range, tenant: newTenant(), by: "user" })).toEqual([]);
      await expect(state.usageReport({ ...range, since: "yesterday", by: "user" })).rejects.toBeInstanceOf(StateError);
    });

    test("a hard budget refuses what does not fit; settle moves the estimate to the real spend; release gives it back", async () => {
      const tenant = newTenant();
      const alice = person(tenant, "sub-alice", { username: "alice", email: "Alice@Example.com", groups: ["eng"] });
      // named by email, as an admin would: applies to the person whose token carries it
      await state.setBudget({ tenant, subject: { kind: "user", id: "alice@example.com" }, period: "day", unit: "usd", limit: 1_000_000, soft: false });
      const est = { microUsd: 400_000, tokens: 5000 };
      const r1 = await state.reserve(alice, est, { now: T0 });
      const r2 = await state.reserve(alice, est, { now: T0 });
      const r3 = await state.reserve(alice, est, { now: T0 });
      expect([r1.ok, r2.ok, r3.ok]).toEqual([true, true, false]);
      if (!r3.ok) {
        expect(r3.refusedBy).toMatchObject({ used: 800_000, remaining: 200_000, resetsAt: Date.parse("2026-11-11T00:00:00Z") });
        expect(r3.refusedBy.budget.subject).toEqual({ kind: "user", id: "alice@example.com" });
      }
      if (!r1.ok || !r2.ok) throw new Error("unreachable");
      await state.settle(r1.reservation, record(alice, { costMicroUsd: 100_000 }));
      await state.release(r2.reservation);
      await state.release(r2.reservation); // twice is harmless
      expect((await state.budgetStatus(alice, T0))[0]).toMatchObject({ used: 100_000, remaining: 900_000 });
      const big = await state.reserve(alice, { microUsd: 900_000, tokens: 1 }, { now: T0 });
      expect(big.ok).toBe(true);
      // the next day starts afresh
      expect((await state.reserve(alice, { microUsd: 1_000_000, tokens: 1 }, { now: T0 + DAY })).ok).toBe(true);
      // someone else is not bound by alice's budget
      expect((await state.reserve(person(tenant, "bob"), { microUsd: 5_000_000, tokens: 1 }, { now: T0 })).ok).toBe(true);
    });

    test("group and token budgets; soft budgets warn and never refuse", async () => {
      const tenant = newTenant();
      const a = person(tenant, "a", { groups: ["eng"] });
      const b = person(tenant, "b", { groups: ["eng"] });
      await state.setBudget({ tenant, subject: { kind: "group", id: "eng" }, period: "month", unit: "tokens", limit: 10_000, soft: false });
      await state.setBudget({ tenant, subject: { kind: "user", id: "b" }, period: "day", unit: "usd", limit: 10, soft: true });
      const est = { microUsd: 100, tokens: 4_000 };
      expect((await state.reserve(a, est, { now: T0 })).ok).toBe(true);
      const rb = await state.reserve(b, est, { now: T0 + 60_000 }); // unsettled reservations live 15 min
      expect(rb.ok).toBe(true);
      if (rb.ok) expect(rb.warnings.map((w) => w.budget.subject)).toEqual([{ kind: "user", id: "b" }]);
      const refused = await state.reserve(b, est, { now: T0 + 120_000 });
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.refusedBy).toMatchObject({ used: 8_000, remaining: 2_000, resetsAt: Date.parse("2026-12-01T00:00:00Z") });
      expect(await state.clearBudget(tenant, { kind: "group", id: "eng" }, "month")).toBe(1);
      expect((await state.reserve(b, est, { now: T0 + 120_000 })).ok).toBe(true);
    });

    test("a reservation nobody settles expires on its own; settling after expiry charges the real spend once", async () => {
      const tenant = newTenant();
      const p = person(tenant, "crashy");
      await state.setBudget({ tenant, subject: { kind: "user", id: "crashy" }, period: "day", unit: "usd", limit: 1000, soft: false });
      const r = await state.reserve(p, { microUsd: 1000, tokens: 1 }, { now: T0, ttlMs: 60_000 });
      expect(r.ok).toBe(true);
      expect((await state.reserve(p, { microUsd: 1, tokens: 1 }, { now: T0 + 59_000 })).ok).toBe(false);
      expect((await state.budgetStatus(p, T0 + 61_000))[0]).toMatchObject({ used: 0 });
      if (!r.ok) throw new Error("unreachable");
      await state.settle(r.reservation, record(p, { costMicroUsd: 300 }));
      expect((await state.budgetStatus(p, T0 + 61_000))[0]).toMatchObject({ used: 300 });
      expect(RESERVATION_TTL_MS).toBe(15 * 60_000);
    });

    test("no overshoot: 50 concurrent reservations from 2 OS processes against a budget worth 10", async () => {
      const tenant = newTenant();
      const p = person(tenant, "racer", { groups: ["eng"] });
      const estimate = { microUsd: 250_000, tokens: 9_000 };
      await state.setBudget({ tenant, subject: { kind: "user", id: "racer" }, period: "month", unit: "usd", limit: 10 * estimate.microUsd, soft: false });
      const started = performance.now();
      const accepted = await runWorkers(backend.url(), "reserve", { person: p, count: 25, estimate });
      const total = accepted.reduce((a, b) => a + b, 0);
      console.error(`${backend.name}: 2 processes x 25 reservations -> accepted ${accepted.join(" + ")} = ${total} (budget 10) in ${(performance.now() - started).toFixed(0)} ms incl. start-up`);
      expect(total).toBe(10);
      expect((await state.budgetStatus(p))[0]).toMatchObject({ used: 10 * estimate.microUsd, remaining: 0 });
    });

    test("rate limits: requests per minute, with remaining, reset and retry-after", async () => {
      const tenant = newTenant();
      const p = person(tenant, "rl", { groups: ["eng"] });
      await state.setLimit({ tenant, subject: { kind: "user", id: "rl@example.com" }, rpm: 3 });
      const now = T0 + 15_000; // a quarter into the window
      const decisions = [];
      for (let i = 0; i < 4; i++) decisions.push(await state.admit(p, 100, { now }));
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
      expect(decisions.map((d) => d.windows[0]?.remaining)).toEqual([2, 1, 0, 0]);
      const refused = decisions[3]!;
      expect(refused.refusedBy).toMatchObject({ kind: "requests", limit: 3, subject: { kind: "user", id: "rl" }, resetAt: T0 + WINDOW_MS });
      // the 3 requests were made at `now`: a minute later none is inside the last minute, so the
      // wait is the window at most (the approximation alone would say 45 s + 20 s)
      expect(refused.retryAfterMs).toBe(WINDOW_MS);
      expect((await state.admit(p, 0, { now: T0 + WINDOW_MS + 10_000 })).allowed).toBe(false);
      expect((await state.admit(p, 0, { now: now + refused.retryAfterMs! })).allowed).toBe(true);
      // another person has their own window; no limit at all means always allowed
      expect((await state.admit(person(tenant, "other"), 0, { now })).windows).toEqual([]);
    });

    test("retry-after is never longer than the window, and a retry after it is admitted", async () => {
      const tenant = newTenant();
      const p = person(tenant, "rl3");
      await state.setLimit({ tenant, subject: { kind: "user", id: "rl3" }, rpm: 3 });
      // the case: 3 requests early in a window, refused a moment later
      for (let i = 0; i < 3; i++) expect((await state.admit(p, 0, { now: T0 + 2_000 + i })).allowed).toBe(true);
      const refused = await state.admit(p, 0, { now: T0 + 11_000 });
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(WINDOW_MS);
      expect(refused.retryAfterMs).toBe(2_002 + WINDOW_MS - 11_000);
      expect((await state.admit(p, 0, { now: T0 + 11_000 + refused.retryAfterMs! })).allowed).toBe(true);
      // tokens per minute: the same bound
      const q = person(tenant, "tp");
      await state.setLimit({ tenant, subject: { kind: "user", id: "tp" }, tpm: 100 });
      expect((await state.admit(q, 150, { now: T0 + 1_000 })).allowed).toBe(true);
      const over = await state.admit(q, 10, { now: T0 + 5_000 });
      expect(over.allowed).toBe(false);
      expect(over.retryAfterMs).toBeLessThanOrEqual(WINDOW_MS);
      expect((await state.admit(q, 10, { now: T0 + 5_000 + over.retryAfterMs! })).allowed).toBe(true);
    });

    test("a budget status says how much of what is used is held by requests in flight", async () => {
      const tenant = newTenant();
      const p = person(tenant, "held");
      await state.setBudget({ tenant, subject: { kind: "user", id: "held" }, period: "day", unit: "usd", limit: 2_000, soft: false });
      const r1 = await state.reserve(p, { microUsd: 600, tokens: 1 }, { now: T0 });
      const r2 = await state.reserve(p, { microUsd: 500, tokens: 1 }, { now: T0 });
      if (!r1.ok || !r2.ok) throw new Error("both fit");
      expect(r2.statuses[0]).toMatchObject({ used: 1_100, held: 1_100 });
      await state.settle(r1.reservation, record(p, { time: T0, costMicroUsd: 700 }));
      expect((await state.budgetStatus(p, T0))[0]).toMatchObject({ used: 1_200, held: 500, remaining: 800 });
      const refused = await state.reserve(p, { microUsd: 1_000, tokens: 1 }, { now: T0 });
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.refusedBy).toMatchObject({ used: 1_200, held: 500 });
      await state.release(r2.reservation);
      expect((await state.budgetStatus(p, T0))[0]).toMatchObject({ used: 700, held: 0 });
      // an expired reservation gives its held part back too
      const r3 = await state.reserve(p, { microUsd: 300, tokens: 1 }, { now: T0, ttlMs: 1_000 });
      expect(r3.ok).toBe(true);
      expect((await state.budgetStatus(p, T0 + 2_000))[0]).toMatchObject({ used: 700, held: 0 });
    });

    test("budgets and limits that are not stored (the tenant policy's) are checked like stored ones, all of them", async () => {
      const tenant = newTenant();
      const a = person(tenant, "a", { groups: ["platform"] });
      const b = person(tenant, "b", { groups: ["platform"] });
      const est = { microUsd: 100, tokens: 4_000 };
      // a per-person policy budget (the user counter) and a pooled one (the group counter), beside a stored one
      const mine = (p: Person) => ({ tenant, subject: { kind: "user" as const, id: p.sub }, period: "day" as const, unit: "tokens" as const, limit: 9_000, soft: false, policy: { name: "groups.platform.budgets[0]", source: "group platform" } });
      const pool = { tenant, subject: { kind: "group" as const, id: "platform" }, period: "month" as const, unit: "tokens" as const, limit: 14_000, soft: false, policy: { name: "groups.platform.budgets[1]", source: "group platform" } };
      await state.setBudget({ tenant, subject: { kind: "tenant", id: "*" }, period: "month", unit: "tokens", limit: 1_000_000, soft: false });
      expect((await state.reserve(a, est, { now: T0, extraBudgets: [mine(a), pool] })).ok).toBe(true);
      expect((await state.reserve(a, est, { now: T0 + 1, extraBudgets: [mine(a), pool] })).ok).toBe(true);
      const own = await state.reserve(a, est, { now: T0 + 2, extraBudgets: [mine(a), pool] });
      expect(own.ok).toBe(false);
      if (!own.ok) expect(own.refusedBy.budget.policy?.name).toBe("groups.platform.budgets[0]");
      expect((await state.reserve(b, est, { now: T0 + 3, extraBudgets: [mine(b), pool] })).ok).toBe(true);
      const pooled = await state.reserve(b, est, { now: T0 + 4, extraBudgets: [mine(b), pool] });
      expect(pooled.ok).toBe(false);
      if (!pooled.ok) expect(pooled.refusedBy.budget.policy?.name).toBe("groups.platform.budgets[1]");
      expect((await state.budgetStatus(b, T0 + 5, [mine(b), pool])).map((s) => [s.budget.policy?.name ?? "stored", s.used])).toEqual([["stored", 12_000], ["groups.platform.budgets[0]", 4_000], ["groups.platform.budgets[1]", 12_000]]);
      // without them, only the stored budget applies
      expect((await state.reserve(b, est, { now: T0 + 6 })).ok).toBe(true);

      // limits: a stored user limit and a policy one share the person's one window; the smaller holds
      await state.setLimit({ tenant, subject: { kind: "user", id: "a" }, rpm: 5 });
      const extraLimits = [{ tenant, subject: { kind: "user" as const, id: "a" }, rpm: 2 }, { tenant, subject: { kind: "group" as const, id: "platform" }, rpm: 3 }];
      expect((await state.admit(a, 0, { now: T0, extraLimits })).allowed).toBe(true);
      expect((await state.admit(a, 0, { now: T0, extraLimits })).allowed).toBe(true);
      expect(await state.admit(a, 0, { now: T0, extraLimits })).toMatchObject({ allowed: false, refusedBy: { kind: "requests", limit: 2, subject: { kind: "user", id: "a" } } });
      expect((await state.admit(b, 0, { now: T0, extraLimits })).allowed).toBe(true);
      expect(await state.admit(b, 0, { now: T0, extraLimits })).toMatchObject({ allowed: false, refusedBy: { kind: "requests", limit: 3, subject: { kind: "group", id: "platform" } } });
    });

    test("people seen keep their groups of the last sighting written", async () => {
      const tenant = newTenant();
      await state.notePerson({ tenant, sub: "s-g", username: "gil", displayName: "gil", groups: ["interns"], firstSeen: T0, lastSeen: T0 });
      expect((await state.findPeople(tenant, "gil"))[0]?.groups).toEqual(["interns"]);
      await state.notePerson({ tenant, sub: "s-g", username: "gil", displayName: "gil", groups: ["interns", "platform"], firstSeen: T0, lastSeen: T0 + 1 });
      expect((await state.findPeople(tenant, "gil"))[0]?.groups).toEqual(["interns", "platform"]);
    });

    test("people seen: found by sub, username or email in any case (or only the kind asked), identifiers kept current", async () => {
      const tenant = newTenant();
      const seen = (sub: string, username: string, email: string | undefined, at: number) => state.notePerson({ tenant, sub, username, ...(email ? { email } : {}), displayName: email ?? username, firstSeen: at, lastSeen: at });
      // a username that looks like an e-mail, and someone else whose e-mail it is
      await seen("sub-1", "dev@example.com", "Dev.Other@Example.com", T0);
      await seen("sub-2", "devon", "dev@example.com", T0 + 1);
      const both = await state.findPeople(tenant, "DEV@example.com");
      expect(both.map((p) => p.sub).sort()).toEqual(["sub-1", "sub-2"]);
      expect((await state.findPeople(tenant, "dev@example.com", "username")).map((p) => p.sub)).toEqual(["sub-1"]);
      expect((await state.findPeople(tenant, "dev@example.com", "email")).map((p) => p.sub)).toEqual(["sub-2"]);
      expect((await state.findPeople(tenant, "dev.other@example.com"))[0]).toMatchObject({ sub: "sub-1", username: "dev@example.com", email: "dev.other@example.com", firstSeen: T0 });
      expect((await state.findPeople(tenant, "SUB-2", "sub")).map((p) => p.sub)).toEqual(["sub-2"]);
      expect(await state.findPeople(tenant, "nobody@example.com")).toEqual([]);
      expect(await state.findPeople(newTenant(), "devon")).toEqual([]);
      // seen again without an e-mail (userInfo not answered yet): the known one is kept; first seen too
      await seen("sub-2", "devon", undefined, T0 + 5_000);
      expect((await state.findPeople(tenant, "devon"))[0]).toMatchObject({ email: "dev@example.com", firstSeen: T0 + 1, lastSeen: T0 + 5_000 });
      // an e-mail that changed: the old one no longer finds them
      await seen("sub-2", "devon", "devon@example.com", T0 + 6_000);
      expect((await state.findPeople(tenant, "dev@example.com")).map((p) => p.sub)).toEqual(["sub-1"]);
      expect((await state.findPeople(tenant, "devon@example.com")).map((p) => p.sub)).toEqual(["sub-2"]);
    });

    test("tokens per minute, configured defaults per person and per tenant", async () => {
      const tenant = newTenant();
      const a = person(tenant, "a");
      const b = person(tenant, "b");
      const defaults = { perPerson: { tpm: 1000 }, perTenant: { rpm: 5 } };
      const now = T0;
      expect((await state.admit(a, 600, { now, defaults })).allowed).toBe(true);
      expect((await state.admit(a, 600, { now, defaults })).allowed).toBe(true); // 600 < 1000: admitted, now over
      const over = await state.admit(a, 1, { now, defaults });
      expect(over).toMatchObject({ allowed: false, refusedBy: { kind: "tokens", limit: 1000 } });
      await state.chargeTokens(b, 2000, { now, defaults });
      expect((await state.admit(b, 0, { now, defaults })).allowed).toBe(false);
      for (let i = 0; i < 3; i++) await state.admit(person(tenant, `c${i}`), 0, { now, defaults });
      const tenantFull = await state.admit(person(tenant, "d"), 0, { now, defaults });
      expect(tenantFull).toMatchObject({ allowed: false, refusedBy: { kind: "requests", subject: { kind: "tenant", id: "*" } } });
    });

    test("rate limit shared by 2 OS processes: exactly the limit is admitted", async () => {
      const tenant = newTenant();
      const p = person(tenant, "burst");
      await state.setLimit({ tenant, subject: { kind: "user", id: "burst" }, rpm: 20 });
      const accepted = await runWorkers(backend.url(), "admit", { person: p, count: 15, now: T0 + 1000 });
      expect(accepted.reduce((a, b) => a + b, 0)).toBe(20);
    });

    test("denylist: by sub, username, email (any case) or session; restore; entries expire", async () => {
      const tenant = newTenant();
      const now = Date.now();
      const at = now;
      await state.revoke({ tenant, kind: "email", value: "Leaver@Example.com", until: now + 3_600_000, at, by: "admin" });
      await state.revoke({ tenant, kind: "origin_jti", value: "jti-1", until: now + 3_600_000, at });
      await state.revoke({ tenant, kind: "username", value: "brief", until: now + 300, at });
      expect(await state.isRevoked(tenant, { sub: "s1", email: "leaver@example.com" })).toMatchObject({ kind: "email", value: "leaver@example.com", by: "admin" });
      expect(await state.isRevoked(tenant, { sub: "s2", origin_jti: "jti-1" })).toMatchObject({ kind: "origin_jti" });
      expect(await state.isRevoked(tenant, { sub: "s2", origin_jti: "jti-2" })).toBeNull();
      expect(await state.isRevoked(newTenant(), { email: "leaver@example.com" })).toBeNull();
      expect(await state.isRevoked(tenant, { username: "brief" })).not.toBeNull();
      await Bun.sleep(400);
      expect(await state.isRevoked(tenant, { username: "brief" })).toBeNull();
      expect((await state.listRevocations(tenant)).map((r) => r.kind).sort()).toEqual(["email", "origin_jti"]);
      expect(await state.restore(tenant, "email", "LEAVER@example.com")).toBe(true);
      expect(await state.isRevoked(tenant, { email: "leaver@example.com" })).toBeNull();
      expect(await state.restore(tenant, "email", "nobody@example.com")).toBe(false);
    });

    test("denylist by user: the value matches a token's sub, username or email, in any case", async () => {
      const tenant = newTenant();
      const now = Date.now();
      await state.revoke({ tenant, kind: "user", value: "Dev@Example.com", until: now + 60_000, at: now });
      // a username that looks like an e-mail, and an e-mail: both are the value
      expect(await state.isRevoked(tenant, { sub: "s1", username: "dev@example.com", email: "other@example.com" })).toMatchObject({ kind: "user", value: "dev@example.com" });
      expect(await state.isRevoked(tenant, { sub: "s2", username: "devon", email: "DEV@example.com" })).toMatchObject({ kind: "user" });
      expect(await state.isRevoked(tenant, { sub: "s3", username: "devon", email: "devon@example.com" })).toBeNull();
      await state.revoke({ tenant, kind: "user", value: "0F9E8D7C-1111-4222-A333-444455556666", until: now + 60_000, at: now });
      expect(await state.isRevoked(tenant, { sub: "0f9e8d7c-1111-4222-a333-444455556666", username: "x" })).toMatchObject({ kind: "user" });
      expect((await state.listRevocations(tenant)).map((r) => [r.kind, r.value]).sort()).toEqual([["user", "0f9e8d7c-1111-4222-a333-444455556666"], ["user", "dev@example.com"]]);
      expect(await state.restore(tenant, "user", "DEV@EXAMPLE.COM")).toBe(true);
      expect(await state.isRevoked(tenant, { sub: "s1", username: "dev@example.com" })).toBeNull();
    });

    test("budget and limit settings: set replaces, list, clear; bad input is a typed error", async () => {
      const tenant = newTenant();
      await state.setBudget({ tenant, subject: { kind: "group", id: "eng" }, period: "month", unit: "usd", limit: 5, soft: false });
      await state.setBudget({ tenant, subject: { kind: "group", id: "eng" }, period: "month", unit: "usd", limit: 7, soft: true });
      await state.setBudget({ tenant, subject: { kind: "user", id: "Bob@Example.com" }, period: "day", unit: "tokens", limit: 9, soft: false });
      const budgets = await state.listBudgets(tenant);
      expect(budgets.length).toBe(2);
      expect(budgets.find((b) => b.subject.kind === "group")).toMatchObject({ limit: 7, soft: true });
      expect(budgets.find((b) => b.subject.kind === "user")?.subject.id).toBe("bob@example.com");
      await state.setLimit({ tenant, subject: { kind: "tenant", id: "anything" }, rpm: 100, tpm: 1000 });
      expect(await state.listLimits(tenant)).toEqual([{ tenant, subject: { kind: "tenant", id: "*" }, rpm: 100, tpm: 1000 }]);
      expect(await state.clearLimit(tenant, { kind: "tenant", id: "*" })).toBe(true);
      expect(await state.clearLimit(tenant, { kind: "tenant", id: "*" })).toBe(false);
      const err = await state.setBudget({ tenant, subject: { kind: "user", id: "x" }, period: "day", unit: "usd", limit: 1.5, soft: false }).catch((e) => e);
      expect(err).toBeInstanceOf(StateError);
      expect((err as StateError).code).toBe("STATE_INPUT");
    });

    test("a batch of usage writes (settle, record, release) has the effect of each; a repeated batch counts once", async () => {
      const tenant = newTenant();
      const dora = person(tenant, "dora", { groups: ["eng"] });
      await state.setBudget({ tenant, subject: { kind: "user", id: "dora" }, period: "day", unit: "usd", limit: 10_000_000, soft: false });
      const est = { microUsd: 1_000_000, tokens: 5000 };
      const [r1, r2] = [await state.reserve(dora, est, { now: T0 }), await state.reserve(dora, est, { now: T0 })];
      if (!r1.ok || !r2.ok) throw new Error("reservations refused");
      const settled = record(dora, { costMicroUsd: 100_000 });
      const recorded = record(dora, { costMicroUsd: 50_000 });
      const batch = [{ kind: "settle", reservation: r1.reservation, record: settled }, { kind: "record", record: recorded }, { kind: "release", reservation: r2.reservation }] as const;
      await state.writeUsage(batch);
      await state.writeUsage(batch); // retried (a batch replayed from the spool): no double count
      expect((await state.budgetStatus(dora, T0))[0]).toMatchObject({ used: 150_000 });
      const [row] = await state.usageReport({ tenant, since: dayKey(T0), until: dayKey(T0), by: "user" });
      expect(row).toMatchObject({ key: "dora", requests: 2, costMicroUsd: 150_000, cacheReadInputTokens: 40_000 });
      const bad = await state.writeUsage([{ kind: "record", record: record(dora, { inputTokens: -1 }) }]).catch((e) => e);
      expect((bad as StateError).code).toBe("STATE_INPUT");
    });

    test("the policy version changes with every budget or limit change, and only then", async () => {
      const tenant = newTenant();
      const seen: string[] = [await state.policyVersion(tenant)];
      const first = seen[0] as string;
      await state.recordUsage(record(person(tenant, "erin")));
      expect(await state.policyVersion(tenant)).toBe(first);
      await state.setBudget({ tenant, subject: { kind: "user", id: "erin" }, period: "day", unit: "usd", limit: 5, soft: false });
      seen.push(await state.policyVersion(tenant));
      await state.setLimit({ tenant, subject: { kind: "user", id: "erin" }, rpm: 5 });
      seen.push(await state.policyVersion(tenant));
      await state.clearLimit(tenant, { kind: "user", id: "erin" });
      seen.push(await state.policyVersion(tenant));
      await state.clearBudget(tenant, { kind: "user", id: "erin" }, "day");
      seen.push(await state.policyVersion(tenant));
      expect(new Set(seen).size).toBe(5);
      // another tenant's version is its own
      expect(await state.policyVersion(newTenant())).toBe(first);
    });

    test("reserve throughput (one process, sequential)", async () => {
      const tenant = newTenant();
      const p = person(tenant, "fast", { groups: ["eng"] });
      await state.setBudget({ tenant, subject: { kind: "user", id: "fast" }, period: "month", unit: "usd", limit: 1e15, soft: false });
      const n = 2000;
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        const r = await state.reserve(p, { microUsd: 10, tokens: 10 });
        if (r.ok) await state.settle(r.reservation, record(p, { time: Date.now(), costMicroUsd: 5 }));
      }
      const perSec = (n / (performance.now() - started)) * 1000;
      console.error(`${backend.name}: ${perSec.toFixed(0)} reserve+settle pairs/s sequential`);
      expect((await state.budgetStatus(p))[0]?.used).toBe(n * 5);
      expect(dayKey(Date.now())).toMatch(/^\d{4}-/);
    });

    test("claimOnce: the first claimant holds a key until it expires, asking again is true for it and false for others, from two connections", async () => {
      const key = `alert\n${newTenant()}\nuser:sub\n2026-12\n0.8`;
      const other = backend.open();
      try {
        const [a, b] = await Promise.all([state.claimOnce(key, "replica-a", 60_000), other.claimOnce(key, "replica-b", 60_000)]);
        expect([a, b].filter(Boolean)).toHaveLength(1);
        const winner = a ? "replica-a" : "replica-b";
        expect(await state.claimOnce(key, winner, 60_000)).toBe(true);
        expect(await other.claimOnce(key, winner === "replica-a" ? "replica-b" : "replica-a", 60_000)).toBe(false);
        const short = `${key}\nshort`;
        expect(await state.claimOnce(short, "replica-a", 50)).toBe(true);
        expect(await other.claimOnce(short, "replica-b", 50)).toBe(false);
        await Bun.sleep(120);
        expect(await other.claimOnce(short, "replica-b", 50)).toBe(true);
      } finally {
        await other.close();
      }
    });

    test("audit: rows come back oldest first with actor, action, target, old and new values and the request id; since filters; old rows are pruned", async () => {
      const tenant = newTenant();
      const now = Date.now();
      await state.appendAudit({ time: now - 500 * DAY, tenant, actor: "ancient", action: "budget.set", target: "tenant", old: null, new: { usd: 1 } });
      await state.appendAudit({ time: now - 2000, tenant, actor: "carol@example.com", actorSub: "sub-carol", action: "budget.set", target: "user bob", old: null, new: { period: "month", usd: 50, soft: false }, requestId: "req_1" });
      await state.appendAudit({ time: now - 1000, tenant, actor: "admin key 1a2b3c4d", action: "budget.set", target: "user bob", old: { period: "month", usd: 50, soft: false }, new: { period: "month", usd: 80, soft: false }, requestId: "req_2" });
      await state.appendAudit({ time: now, tenant: `${tenant}-other`, actor: "x", action: "revoke", target: "user y", old: null, new: {} });
      const rows = await state.listAudit({ tenant });
      expect(rows).toEqual([
        { time: now - 2000, tenant, actor: "carol@example.com", actorSub: "sub-carol", action: "budget.set", target: "user bob", old: null, new: { period: "month", usd: 50, soft: false }, requestId: "req_1" },
        { time: now - 1000, tenant, actor: "admin key 1a2b3c4d", action: "budget.set", target: "user bob", old: { period: "month", usd: 50, soft: false }, new: { period: "month", usd: 80, soft: false }, requestId: "req_2" },
      ]);
      expect((await state.listAudit({ tenant, since: now - 1000 })).map((r) => r.requestId)).toEqual(["req_2"]);
      await expect(state.appendAudit({ time: now, tenant, actor: "", action: "x", target: "y", old: null, new: null })).rejects.toBeInstanceOf(StateError);
    });

  });
}

test("sqlite: what was recorded survives closing and reopening the file", async () => {
  const file = join(dir, "restart.db");
  const tenant = newTenant();
  const p = person(tenant, "durable");
  let s = new SqliteState(file);
  await s.recordUsage(record(p));
  await s.revoke({ tenant, kind: "sub", value: "durable", until: Date.now() + 60_000, at: Date.now() });
  await s.setBudget({ tenant, subject: { kind: "user", id: "durable" }, period: "month", unit: "usd", limit: 50_000, soft: false });
  await s.close();
  s = new SqliteState(file);
  expect((await s.usageReport({ tenant, since: "2026-11-01", until: "2026-11-30", by: "user" }))[0]).toMatchObject({ requests: 1, cacheReadInputTokens: 20000 });
  expect(await s.isRevoked(tenant, { sub: "durable" })).not.toBeNull();
  expect((await s.budgetStatus(p, T0))[0]).toMatchObject({ used: 12_345 });
  await s.close();
});

test("sqlite: a file from before the held figures and window times is upgraded at open, its counters kept", async () => {
  const file = join(dir, "old.db");
  const { Database } = await import("bun:sqlite");
  const old = new Database(file, { create: true });
  old.exec("CREATE TABLE counters (tenant TEXT NOT NULL, key TEXT NOT NULL, usd INTEGER NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY (tenant, key)) WITHOUT ROWID");
  old.exec("CREATE TABLE windows (tenant TEXT NOT NULL, key TEXT NOT NULL, start INTEGER NOT NULL, requests INTEGER NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY (tenant, key, start)) WITHOUT ROWID");
  old.query("INSERT INTO counters VALUES ('old', 'user:sub-o:2026-11-10', 700, 7)").run();
  old.close();
  const s = new SqliteState(file);
  const p = person("old", "sub-o");
  await s.setBudget({ tenant: "old", subject: { kind: "user", id: "sub-o" }, period: "day", unit: "usd", limit: 1_000, soft: false });
  expect((await s.budgetStatus(p, T0))[0]).toMatchObject({ used: 700, held: 0 });
  const r = await s.reserve(p, { microUsd: 200, tokens: 1 }, { now: T0 });
  expect(r.ok && r.statuses[0]).toMatchObject({ used: 900, held: 200 });
  await s.setLimit({ tenant: "old", subject: { kind: "user", id: "sub-o" }, rpm: 1 });
  expect((await s.admit(p, 0, { now: T0 })).allowed).toBe(true);
  expect((await s.admit(p, 0, { now: T0 + 1 })).retryAfterMs).toBe(WINDOW_MS - 1);
  await s.notePerson({ tenant: "old", sub: "sub-o", username: "o", displayName: "o", firstSeen: T0, lastSeen: T0 });
  expect(await s.findPeople("old", "O")).toHaveLength(1);
  await s.close();
});

test("sqlite: a ledger from before upstream pools gains the upstream column at open; its records count under \"\"", async () => {
  const file = join(dir, "old-ledger.db");
  const { Database } = await import("bun:sqlite");
  const old = new Database(file, { create: true });
  old.exec(`CREATE TABLE usage (
    tenant TEXT NOT NULL, request_id TEXT NOT NULL, upstream_request_id TEXT, time INTEGER NOT NULL, day TEXT NOT NULL,
    sub TEXT NOT NULL, display_name TEXT NOT NULL, groups TEXT NOT NULL, model TEXT NOT NULL,
    input INTEGER NOT NULL, output INTEGER NOT NULL, cache_write INTEGER NOT NULL, cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL,
    cache_read INTEGER NOT NULL, web_search INTEGER NOT NULL, cost_micro INTEGER, PRIMARY KEY (tenant, request_id))`);
  old.query("INSERT INTO usage VALUES ('old', 'req-1', NULL, ?, '2026-11-10', 'sub-o', 'o', '[]', 'claude-sonnet-4-5', 1, 2, 0, 0, 0, 0, 0, 100)").run(T0);
  old.close();
  const s = new SqliteState(file);
  await s.recordUsage(record(person("old", "sub-o"), { upstream: "bedrock-us" }));
  const rows = await s.usageReport({ tenant: "old", since: "2026-11-01", until: "2026-11-30", by: "upstream" });
  expect(rows.map((r) => [r.key, r.requests])).toEqual([["", 1], ["bedrock-us", 1]]);
  await s.close();
});
