/** Fail-open and fail-closed with a real redis-server stopped and started mid-run. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openState } from "./open.ts";
import { ResilientState } from "./resilient.ts";
import { startTestRedis, type TestRedis } from "../../../test/support/redis-server.ts";
import type { Person } from "../model/person.ts";
import type { UsageRecord } from "../model/usage.ts";
import { StateError, StateUnavailable } from "./types.ts";

let redis: TestRedis;
beforeAll(async () => {
  redis = await startTestRedis({ persistent: true }); // what was written before the stop must be there after
});
afterAll(async () => {
  await redis?.dispose();
});

const alice: Person = { tenant: "acme", sub: "alice", displayName: "alice@example.com", groups: ["eng"] };
let seq = 0;
const rec = (): UsageRecord => ({
  requestId: `r${++seq}`, time: Date.parse("2026-11-20T12:00:00Z"), tenant: "acme", sub: "alice", displayName: "alice@example.com", groups: ["eng"], model: "claude-haiku-4-5",
  inputTokens: 1, outputTokens: 2, cacheCreationInputTokens: 3, cacheCreation5mInputTokens: 3, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 4, webSearchRequests: 0, costMicroUsd: 7,
});
const report = (s: ResilientState) => s.usageReport({ tenant: "acme", since: "2026-11-20", until: "2026-11-20", by: "user" });

test("fail-open: serves while Redis is down, queues usage and revocations, writes them when it is back", async () => {
  const events: string[] = [];
  const state = openState(redis.url, {
    onRedisDown: "open",
    hooks: { degraded: (e) => events.push(`degraded:${e.op}:${e.error.code}`), recovered: (e) => events.push(`recovered:${e.flushed}`) },
    redis: { commandTimeoutMs: 500 },
  }) as ResilientState;
  await state.recordUsage(rec());
  await redis.stop();

  const r = await state.reserve(alice, { microUsd: 1, tokens: 1 });
  expect(r.ok).toBe(true);
  expect(state.ready()).toBe(true);
  if (r.ok) await state.settle(r.reservation, rec());
  await state.recordUsage(rec());
  await state.revoke({ tenant: "acme", kind: "origin_jti", value: "jti-during-outage", until: Date.now() + 3_600_000, at: Date.now() });
  expect((await state.admit(alice, 0)).allowed).toBe(true);
  expect(await state.isRevoked("acme", { origin_jti: "jti-during-outage" })).not.toBeNull(); // seen locally at once
  expect(state.queued).toBe(3);
  expect(events).toEqual(["degraded:reserve:STATE_UNAVAILABLE"]);
  const adminError = await report(state).catch((e) => e);
  expect(adminError).toBeInstanceOf(StateUnavailable);

  await redis.start();
  // the client may need a moment to reconnect to the restarted server: probe as the timer does
  for (const deadline = Date.now() + 5000; !events.some((e) => e.startsWith("recovered")) && Date.now() < deadline; await Bun.sleep(50)) await state.tryRecover();
  expect(events).toEqual(["degraded:reserve:STATE_UNAVAILABLE", "recovered:3"]);
  expect(state.queued).toBe(0);
  const rows = await report(state);
  expect(rows[0]).toMatchObject({ key: "alice", requests: 3, cacheReadInputTokens: 12, costMicroUsd: 21 });
  expect(await state.isRevoked("acme", { origin_jti: "jti-during-outage" })).not.toBeNull();
  // a second flush of the same records would not double-count (idempotent by request id)
  await state.close();
});

test("fail-closed: typed StateUnavailable and not ready while Redis is down; serves again once it is back", async () => {
  const state = openState(redis.url, { redis: { commandTimeoutMs: 500 } }) as ResilientState;
  expect((await state.reserve(alice, { microUsd: 1, tokens: 1 })).ok).toBe(true);
  await redis.stop();
  const error = await state.reserve(alice, { microUsd: 1, tokens: 1 }).catch((e) => e);
  expect(error).toBeInstanceOf(StateUnavailable);
  expect((error as StateError).code).toBe("STATE_UNAVAILABLE");
  expect((error as StateError).message).toContain("unreachable");
  expect(state.ready()).toBe(false);
  await expect(state.recordUsage(rec())).rejects.toBeInstanceOf(StateUnavailable);
  await expect(state.isRevoked("acme", { sub: "alice" })).rejects.toBeInstanceOf(StateUnavailable);
  await redis.start();
  // the client may need a moment to reconnect to the restarted server: probe as the timer does
  for (const deadline = Date.now() + 5000; !state.ready() && Date.now() < deadline; await Bun.sleep(50)) await state.tryRecover();
  expect(state.ready()).toBe(true);
  expect((await state.admit(alice, 0)).allowed).toBe(true);
  await state.close();
});

test("fail-closed with a spool: usage of answers already sent is spooled (fsync'd) instead of lost, revocations still refused; replayed once Redis is back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-spool-"));
  const events: string[] = [];
  const state = openState(redis.url, {
    redis: { commandTimeoutMs: 500 },
    hooks: { spooled: (e) => events.push(`spooled:${e.kind}:${e.first}`), replayed: (e) => events.push(`replayed:${e.count}:${e.drained}`) },
    spool: { dir, probeMs: 100_000 },
  }) as ResilientState;
  try {
    const before = (await report(state))[0]?.requests ?? 0;
    const r = await state.reserve(alice, { microUsd: 1, tokens: 1 });
    await redis.stop();
    if (r.ok) await state.settle(r.reservation, rec()); // resolves: kept on disk
    await state.recordUsage(rec());
    await expect(state.revoke({ tenant: "acme", kind: "sub", value: "x", until: Date.now() + 60_000, at: Date.now() })).rejects.toBeInstanceOf(StateUnavailable);
    expect(state.ready()).toBe(false);
    expect(state.queued).toBe(2);
    const files = readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".jsonl"));
    expect(files).toHaveLength(1);
    expect(events).toEqual(["spooled:settle:true", "spooled:record:false"]);

    await redis.start();
    for (const deadline = Date.now() + 5000; !state.ready() && Date.now() < deadline; await Bun.sleep(50)) await state.tryRecover();
    expect(state.queued).toBe(0);
    expect(events.at(-1)).toBe("replayed:2:true");
    expect((await report(state))[0]?.requests).toBe(before + 2);
    expect(readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".jsonl"))).toHaveLength(0);
  } finally {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fail-closed with a spool: a batch of usage writes that finds Redis down is spooled write by write and replayed once, totals exact", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-spool-"));
  const spooled: string[] = [];
  const state = openState(redis.url, { redis: { commandTimeoutMs: 500 }, hooks: { spooled: (e) => spooled.push(e.kind) }, spool: { dir, probeMs: 100_000 } }) as ResilientState;
  try {
    const before = (await report(state))[0] ?? { requests: 0, costMicroUsd: 0 };
    const r = await state.reserve(alice, { microUsd: 1000, tokens: 1 });
    if (!r.ok) throw new Error("reservation refused");
    const r2 = await state.reserve(alice, { microUsd: 1000, tokens: 1 });
    if (!r2.ok) throw new Error("reservation refused");
    await redis.stop();
    // the first write of the outage is a batch: it fails as a whole, then each write takes the spool
    await state.writeUsage([{ kind: "settle", reservation: r.reservation, record: rec() }, { kind: "record", record: rec() }, { kind: "release", reservation: r2.reservation }]);
    expect(spooled.sort()).toEqual(["record", "release", "settle"]);
    expect(state.queued).toBe(3);
    await redis.start();
    for (const deadline = Date.now() + 5000; !state.ready() && Date.now() < deadline; await Bun.sleep(50)) await state.tryRecover();
    expect(state.queued).toBe(0);
    expect((await report(state))[0]).toMatchObject({ requests: before.requests + 2, costMicroUsd: before.costMicroUsd + 14 });
    expect((await state.budgetStatus(alice)).length).toBe(0);
  } finally {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a hung Redis (SIGSTOP) is unavailable after the command bound, not a hang", async () => {
  const state = openState(redis.url, { redis: { commandTimeoutMs: 300 } });
  expect(await state.ping()).toBe(true);
  const pid = Number((await Bun.$`pgrep -f "redis-server 127.0.0.1:${redis.port}"`.text()).trim().split("\n")[0]);
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, "SIGSTOP");
  try {
    const started = performance.now();
    const error = await state.isRevoked("acme", { sub: "alice" }).catch((e) => e);
    expect(error).toBeInstanceOf(StateUnavailable);
    expect(performance.now() - started).toBeLessThan(1500);
  } finally {
    process.kill(pid, "SIGCONT");
  }
  await state.close();
});

test("openState: URLs it accepts and clear errors for the rest, without echoing a password", () => {
  expect(openState("sqlite::memory:").ready()).toBe(true);
  for (const bad of ["postgres://x", "sqlite:", "redis://:s3cret@host:6379/zero"]) {
    const e = (() => {
      try {
        openState(bad);
      } catch (error) {
        return error as StateError;
      }
    })();
    expect(e).toBeInstanceOf(StateError);
    expect(e?.code).toBe("STATE_URL");
    expect(e?.message).not.toContain("s3cret");
  }
});
