import { describe, expect, test } from "bun:test";
import { UsageBatcher } from "./usage-batcher.ts";
import type { UsageRecord } from "../model/usage.ts";
import { StateError, StateUnavailable, type UsageWrite } from "./types.ts";

const rec = (requestId: string): UsageRecord => ({
  requestId, time: 0, tenant: "t", sub: "s", displayName: "s", groups: [], model: "m", costMicroUsd: 0,
  inputTokens: 1, outputTokens: 1, cacheCreationInputTokens: 0, cacheCreation5mInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 0, webSearchRequests: 0,
});
const write = (id: string): UsageWrite => ({ kind: "record", record: rec(id) });

/** A store that records each call's batch; `fail` decides per call. */
function store(fail: (writes: readonly UsageWrite[]) => Error | undefined = () => undefined) {
  const calls: string[][] = [];
  return {
    calls,
    async writeUsage(writes: readonly UsageWrite[]) {
      calls.push(writes.map((w) => (w.kind === "release" ? "release" : w.record.requestId)));
      const e = fail(writes);
      if (e) throw e;
    },
  };
}

describe("UsageBatcher", () => {
  test("writes made together go to the store in one call, after at most maxDelayMs", async () => {
    const s = store();
    const batcher = new UsageBatcher(s, { maxDelayMs: 5 });
    const started = performance.now();
    await Promise.all(["a", "b", "c"].map((id) => batcher.write(write(id))));
    expect(s.calls).toEqual([["a", "b", "c"]]);
    expect(performance.now() - started).toBeLessThan(200);
  });

  test("maxBatch writes are sent at once, without waiting for the timer", async () => {
    const s = store();
    const batcher = new UsageBatcher(s, { maxDelayMs: 60_000, maxBatch: 2 });
    await Promise.all([batcher.write(write("a")), batcher.write(write("b"))]);
    expect(s.calls).toEqual([["a", "b"]]);
  });

  test("a batch refused for one bad write is retried one by one: only that write fails", async () => {
    const s = store((ws) => (ws.some((w) => w.kind === "record" && w.record.requestId === "bad") ? new StateError("STATE_INPUT", "bad record") : undefined));
    const batcher = new UsageBatcher(s);
    const results = await Promise.allSettled(["a", "bad", "c"].map((id) => batcher.write(write(id))));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(s.calls).toEqual([["a", "bad", "c"], ["a"], ["bad"], ["c"]]);
  });

  test("a store that stays down fails each write (the caller logs its usage)", async () => {
    const batcher = new UsageBatcher(store(() => new StateUnavailable("down")));
    const results = await Promise.allSettled([batcher.write(write("a")), batcher.write(write("b"))]);
    expect(results.every((r) => r.status === "rejected" && r.reason instanceof StateUnavailable)).toBe(true);
  });

  test("close sends what waits and waits for it (shutdown loses nothing)", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const written: string[] = [];
    const batcher = new UsageBatcher({ writeUsage: async (ws) => void (await gate, written.push(...ws.map((w) => (w.kind === "record" ? w.record.requestId : "")))) }, { maxDelayMs: 60_000 });
    void batcher.write(write("a"));
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    await Bun.sleep(5);
    expect(closed).toBe(false);
    release();
    await closing;
    expect(written).toEqual(["a"]);
  });
});
