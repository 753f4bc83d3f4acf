/** The spool with real files: order, resumption, torn lines, claims by one process, a real SIGKILLed owner, idempotent replay into real SQLite. */
import { afterEach, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Spool, SpoolError, type SpooledWrite } from "./spool.ts";
import { SqliteState } from "./sqlite.ts";
import type { UsageRecord } from "../model/usage.ts";

const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), "ara-spool-test-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rec = (id: string, input = 10): UsageRecord => ({
  requestId: id, time: Date.parse("2026-11-20T12:00:00Z"), tenant: "acme", sub: "alice", displayName: "alice@example.com", groups: ["eng"], model: "claude-haiku-4-5",
  inputTokens: input, outputTokens: 2, cacheCreationInputTokens: 3, cacheCreation5mInputTokens: 3, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 4, webSearchRequests: 0, costMicroUsd: 7,
});
const write = (id: string): SpooledWrite => ({ kind: "record", record: rec(id) });
const idOf = (w: SpooledWrite) => (w.kind === "record" || w.kind === "settle" ? w.record.requestId : w.kind);
const me = (pid: number) => ({ host: "testhost", pid, startMs: 1_700_000_000_000 + pid });
const line = (w: SpooledWrite) => `${JSON.stringify({ at: 1, w })}\n`;
/** A file as a process of this host that is gone (pid 999999) left it. */
function orphanFile(dir: string, seq: string, content: string): string {
  const name = `spool_testhost_999999_1700000999999~${seq}.jsonl`;
  writeFileSync(join(dir, name), content);
  return name;
}
const deadOrphanOwner = (pid: number) => pid !== 999999;

describe("Spool", () => {
  test("replays in append order across files, including writes appended while it replays, then removes the files", async () => {
    const dir = newDir();
    const spool = Spool.open(dir, { identity: me(1), isAlive: () => true });
    await Promise.all(["a", "b", "c"].map((id) => spool.append(write(id))));
    expect(spool.depth).toBe(3);
    expect(readdirSync(dir)).toHaveLength(1);
    const seen: string[] = [];
    const result = await spool.replay(async (w) => {
      seen.push(idOf(w));
      // a write spooled during the replay lands in a new file, replayed in the same call
      if (idOf(w) === "b") await spool.append(write("d"));
    });
    expect(seen).toEqual(["a", "b", "c", "d"]);
    expect(result).toEqual({ replayed: 4 });
    expect(spool.depth).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    await spool.close();
  });

  test("a replay the store stops resumes at the write it stopped on, without re-applying the others", async () => {
    const dir = newDir();
    const spool = Spool.open(dir, { identity: me(2), isAlive: () => true });
    for (const id of ["a", "b", "c"]) await spool.append(write(id));
    const seen: string[] = [];
    const down = new Error("store down");
    const first = await spool.replay(async (w) => {
      if (idOf(w) === "b") throw down;
      seen.push(idOf(w));
    });
    expect(first).toEqual({ replayed: 1, error: down });
    expect(spool.depth).toBe(2);
    expect(readdirSync(dir)).toHaveLength(1); // still on disk
    expect((await spool.replay(async (w) => void seen.push(idOf(w)))).replayed).toBe(2);
    expect(seen).toEqual(["a", "b", "c"]);
    await spool.close();
  });

  test("a torn last line (a crash mid-write) is skipped and reported; a corrupt line too; the rest is replayed", async () => {
    const dir = newDir();
    const torn = line(write("t")).slice(0, 40);
    const name = orphanFile(dir, "1700000000000-000001", line(write("a")) + "not json\n" + line(write("b")) + torn);
    const skipped: { line: number; reason: string }[] = [];
    const claimed: string[] = [];
    const spool = Spool.open(dir, { identity: me(3), isAlive: deadOrphanOwner, hooks: { skipped: (e) => skipped.push({ line: e.line, reason: e.reason }), claimed: (e) => claimed.push(e.from) } });
    const seen: string[] = [];
    expect((await spool.replay(async (w) => void seen.push(idOf(w)))).replayed).toBe(2);
    expect(seen).toEqual(["a", "b"]);
    expect(skipped).toEqual([{ line: 2, reason: "corrupt" }, { line: 4, reason: "torn" }]);
    expect(claimed).toEqual([name]);
    expect(readdirSync(dir)).toEqual([]);
    await spool.close();
  });

  test("orphans are replayed oldest first, before this process's own newer writes", async () => {
    const dir = newDir();
    orphanFile(dir, "1600000000000-000002", line(write("old-2")));
    writeFileSync(join(dir, "spool_testhost_999998_1600000000000~1600000000000-000001.jsonl"), line(write("old-1")));
    const spool = Spool.open(dir, { identity: me(4), isAlive: (pid) => pid < 999998 });
    await spool.append(write("new"));
    const seen: string[] = [];
    await spool.replay(async (w) => void seen.push(idOf(w)));
    expect(seen).toEqual(["old-1", "old-2", "new"]);
    await spool.close();
  });

  test("a file of a live process is left alone until it goes stale; one of a pid reused by us (a restarted pid 1) is ours to take", async () => {
    const dir = newDir();
    writeFileSync(join(dir, "spool_testhost_4242_1~1700000000000-000001.jsonl"), line(write("live")));
    writeFileSync(join(dir, "spool_testhost_5_1~1700000000000-000002.jsonl"), line(write("predecessor")));
    const spool = Spool.open(dir, { identity: { host: "testhost", pid: 5, startMs: 2 }, isAlive: () => true, staleMs: 60_000 });
    const seen: string[] = [];
    await spool.replay(async (w) => void seen.push(idOf(w)));
    expect(seen).toEqual(["predecessor"]);
    expect(readdirSync(dir)).toEqual(["spool_testhost_4242_1~1700000000000-000001.jsonl"]);
    const stale = Spool.open(dir, { identity: me(6), isAlive: () => true, staleMs: 1 });
    await Bun.sleep(5);
    await stale.replay(async (w) => void seen.push(idOf(w)));
    expect(seen).toEqual(["predecessor", "live"]);
    await Promise.all([spool.close(), stale.close()]);
  });

  test("two processes racing for the same orphans: each write is replayed exactly once", async () => {
    const dir = newDir();
    for (let f = 0; f < 20; f++) orphanFile(dir, `1700000000000-${String(f).padStart(6, "0")}`, Array.from({ length: 5 }, (_, i) => line(write(`f${f}-${i}`))).join(""));
    const a = Spool.open(dir, { identity: me(7), isAlive: deadOrphanOwner });
    const b = Spool.open(dir, { identity: me(8), isAlive: deadOrphanOwner });
    const counts = new Map<string, number>();
    const apply = async (w: SpooledWrite) => {
      await Bun.sleep(0);
      counts.set(idOf(w), (counts.get(idOf(w)) ?? 0) + 1);
    };
    const [ra, rb] = await Promise.all([a.replay(apply), b.replay(apply)]);
    expect(ra.replayed + rb.replayed).toBe(100);
    expect(counts.size).toBe(100);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  test("a real process SIGKILLed after spooling: its file is kept while it lives, taken over once it is dead", async () => {
    const dir = newDir();
    const child = spawn(process.execPath, ["-e", `
      const { Spool } = await import(${JSON.stringify(join(import.meta.dir, "spool.ts"))});
      const s = Spool.open(${JSON.stringify(dir)});
      for (const id of ["k1", "k2", "k3"]) await s.append({ kind: "record", record: { requestId: id } });
      console.log("spooled");
      setInterval(() => {}, 1000);
    `], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout!.on("data", (d) => String(d).includes("spooled") && resolve()));
    const spool = Spool.open(dir);
    const seen: string[] = [];
    expect((await spool.replay(async (w) => void seen.push(idOf(w)))).replayed).toBe(0); // its owner lives
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect((await spool.replay(async (w) => void seen.push(idOf(w)))).replayed).toBe(3);
    expect(seen).toEqual(["k1", "k2", "k3"]);
    await spool.close();
  });

  test("replaying into real SQLite after a partial flush counts each record once (idempotent by request id)", async () => {
    const dir = newDir();
    const state = new SqliteState(":memory:");
    const spool = Spool.open(dir, { identity: me(9), isAlive: () => true });
    for (const id of ["r1", "r2", "r3"]) await spool.append({ kind: "record", record: rec(id, 100) });
    // the first two reached the store before the process died mid-replay: the file is replayed whole
    await state.recordUsage(rec("r1", 100));
    await state.recordUsage(rec("r2", 100));
    const file = readdirSync(dir)[0] as string;
    await spool.close();
    const copy = readFileSync(join(dir, file), "utf8");
    rmSync(join(dir, file));
    orphanFile(dir, "1700000000000-000009", copy);
    const next = Spool.open(dir, { identity: me(10), isAlive: deadOrphanOwner });
    expect((await next.replay((w) => state.recordUsage((w as { record: UsageRecord }).record))).replayed).toBe(3);
    const rows = await state.usageReport({ tenant: "acme", since: "2026-11-20", until: "2026-11-20", by: "user" });
    expect(rows[0]).toMatchObject({ requests: 3, inputTokens: 300 });
    await next.close();
  });

  test("an unusable directory is a typed error naming it; a full spool refuses the write", async () => {
    const file = join(newDir(), "not-a-dir");
    writeFileSync(file, "");
    const e = (() => {
      try {
        Spool.open(join(file, "spool"));
      } catch (error) {
        return error as SpoolError;
      }
    })();
    expect(e).toBeInstanceOf(SpoolError);
    expect(e?.code).toBe("SPOOL_DIR");
    expect(e?.message).toContain("--spool-dir");
    const small = Spool.open(newDir(), { maxBytes: 600 });
    await small.append(write("fits"));
    const full = await small.append({ kind: "record", record: { ...rec("big"), displayName: "x".repeat(600) } }).catch((error) => error);
    expect(full).toBeInstanceOf(SpoolError);
    expect((full as SpoolError).code).toBe("SPOOL_FULL");
    await small.close();
  });
});

