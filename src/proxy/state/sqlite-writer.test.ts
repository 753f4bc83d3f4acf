/**
 * A SQLite file's usage writes commit on a thread of their own (sqlite-writer.ts), on a real file:
 * the event loop runs on while a commit waits for another connection's lock; a write past the
 * busy timeout, or one the thread dropped when it died, is refused as unavailable, so the state
 * wrapper spools it and no record is lost; close waits for what is in flight.
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResilientState } from "./resilient.ts";
import { Spool } from "./spool.ts";
import { SqliteState } from "./sqlite.ts";
import type { UsageRecord } from "../model/usage.ts";
import { StateUnavailable } from "./types.ts";

const dir = mkdtempSync(join(tmpdir(), "ara-sqlite-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => join(dir, `state-${++files}.db`);

let seq = 0;
const rec = (fields: Partial<UsageRecord> = {}): UsageRecord => ({
  requestId: `r${++seq}`, time: Date.parse("2026-12-04T12:00:00Z"), tenant: "acme", sub: "alice", displayName: "alice@example.com", groups: ["eng"], model: "claude-haiku-4-5",
  inputTokens: 1, outputTokens: 2, cacheCreationInputTokens: 0, cacheCreation5mInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 4, webSearchRequests: 0, costMicroUsd: 7, ...fields,
});
const requests = async (s: { usageReport: SqliteState["usageReport"] }) => (await s.usageReport({ tenant: "acme", since: "2026-12-04", until: "2026-12-04", by: "user" }))[0]?.requests ?? 0;

/** Another process's connection holding the file's write lock until `release`. */
function holdWriteLock(path: string): { release(): void } {
  const other = new Database(path);
  // the writer thread may be in a short transaction of its own (the roll-ups' upkeep at start): wait for it
  other.exec("PRAGMA busy_timeout = 5000");
  other.exec("BEGIN IMMEDIATE");
  return {
    release: () => {
      other.exec("COMMIT");
      other.close();
    },
  };
}

/** How late a 20 ms timer fires while `during` runs: the event loop's stall. */
async function timerLateness(during: () => Promise<unknown>): Promise<{ lateMs: number; result: PromiseSettledResult<unknown> }> {
  const started = performance.now();
  const fired = new Promise<number>((resolve) => setTimeout(() => resolve(performance.now() - started - 20), 20));
  const [result, lateMs] = await Promise.all([during().then((value) => ({ status: "fulfilled" as const, value }), (reason: unknown) => ({ status: "rejected" as const, reason })), fired]);
  return { lateMs, result };
}

test("a commit that waits for another connection's lock waits on the writer thread: the event loop runs on, and the write lands once the lock is free", async () => {
  const path = newFile();
  const state = new SqliteState(path, { busyTimeoutMs: 5000 });
  await state.recordUsage(rec()); // the thread is up
  const lock = holdWriteLock(path);
  const write = state.recordUsage(rec());
  await Bun.sleep(300);
  expect(state.writesInFlight).toBe(1); // still waiting for the lock...
  const { lateMs } = await timerLateness(() => Bun.sleep(50)); // ...and timers fire meanwhile
  expect(lateMs).toBeLessThan(100);
  lock.release();
  await write;
  expect(await requests(state)).toBe(2);
  await state.close();
});

test("a stuck writer thread is not a queue that grows: once its oldest write has waited maxLagMs, new writes are refused as unavailable at once (the wrapper spools them)", async () => {
  const path = newFile();
  const state = new SqliteState(path, { busyTimeoutMs: 5000, maxLagMs: 200 });
  await state.recordUsage(rec());
  const lock = holdWriteLock(path);
  const queued = state.recordUsage(rec());
  await Bun.sleep(50);
  const queuedToo = state.recordUsage(rec()); // within the lag: queued too
  await Bun.sleep(250);
  const started = performance.now();
  expect(await state.recordUsage(rec()).catch((e: unknown) => e)).toBeInstanceOf(StateUnavailable);
  expect(performance.now() - started).toBeLessThan(50);
  lock.release();
  await Promise.all([queued, queuedToo]);
  expect(await requests(state)).toBe(3);
  await state.recordUsage(rec()); // caught up: accepted again
  expect(await requests(state)).toBe(4);
  await state.close();
});

test("for contrast, an inline write (as before the thread, and as :memory: still is) stalls the event loop for the whole wait", async () => {
  const path = newFile();
  const state = new SqliteState(path, { usageWrites: "inline", busyTimeoutMs: 400 });
  const lock = holdWriteLock(path);
  const { lateMs, result } = await timerLateness(() => state.recordUsage(rec()));
  lock.release();
  expect(result.status).toBe("rejected");
  expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StateUnavailable);
  expect(lateMs).toBeGreaterThan(300);
  await state.close();
});

test("busy past the busy timeout on the thread: StateUnavailable; the wrapper spools the record and replays it once the lock is free", async () => {
  const path = newFile();
  const spool = Spool.open(join(dir, `spool-${files}`));
  const state = new ResilientState(new SqliteState(path, { busyTimeoutMs: 200 }), { policy: "closed", spool, probeMs: 50 });
  const lock = holdWriteLock(path);
  await state.recordUsage(rec()); // resolves: kept in the spool
  expect(spool.depth).toBe(1);
  expect(state.degraded).toBe(true);
  lock.release();
  for (const deadline = Date.now() + 5000; state.degraded && Date.now() < deadline; ) await Bun.sleep(25);
  expect(spool.depth).toBe(0);
  expect(await requests(state)).toBe(1);
  await state.close();
});

test("the writer thread dying refuses what it had not committed as unavailable (spooled, replayed once: the ledger dedupes by request id) and the next write starts a new thread", async () => {
  const path = newFile();
  const spool = Spool.open(join(dir, `spool-${files}`));
  const sqlite = new SqliteState(path);
  const state = new ResilientState(sqlite, { policy: "closed", spool, probeMs: 50 });
  await state.recordUsage(rec());
  const cut = sqlite.recordUsage(rec({ requestId: "cut-by-the-crash" }));
  sqlite.crashWriterForTests();
  expect(await cut.catch((e: unknown) => e)).toBeInstanceOf(StateUnavailable);
  // the same write through the wrapper: the crash is its to survive
  const kept = state.recordUsage(rec({ requestId: "kept-through-the-crash" }));
  sqlite.crashWriterForTests();
  await kept;
  for (const deadline = Date.now() + 5000; (state.degraded || spool.depth > 0) && Date.now() < deadline; ) await Bun.sleep(25);
  await state.recordUsage(rec()); // a new thread
  const ids = new Database(path, { readonly: true }).query<{ request_id: string }, []>("SELECT request_id FROM usage ORDER BY request_id").all().map((r) => r.request_id);
  expect(ids.filter((id) => id === "kept-through-the-crash")).toHaveLength(1);
  expect(await requests(state)).toBe(ids.length);
  await state.close();
});

test("close waits for every write in flight: 500 writes not awaited, then close, then all 500 in the file", async () => {
  const path = newFile();
  const state = new SqliteState(path);
  const writes = Array.from({ length: 500 }, () => state.recordUsage(rec()));
  await state.close();
  expect((await Promise.allSettled(writes)).every((r) => r.status === "fulfilled")).toBe(true);
  const reopened = new SqliteState(path);
  expect(await requests(reopened)).toBe(500);
  await reopened.close();
});
