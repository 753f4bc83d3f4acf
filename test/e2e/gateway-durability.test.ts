/**
 * Settled usage is never lost (real proxy processes, a real redis-server, the stub upstream):
 * - fail-closed, Redis stopped while streams are in flight: the answers complete, their usage
 *   goes to the spool (a file in --spool-dir), and once Redis is back the ledger holds exactly
 *   what the upstream reported;
 * - the same, but the proxy is SIGKILLed before Redis returns: two new processes started on
 *   the same spool directory (as two workers would be) replay it once between them: totals
 *   exact, no double count.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { stubUsage } from "../../src/tenant/stub-upstream.ts";
import { ADMIN_KEY, admin, messageBody, post, type ProxyProcess, useGateway, within } from "../support/gateway.ts";

const EVENTS = 10;
const gateway = useGateway();
let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis({ persistent: true });
  // every stream: EVENTS words, one every 150 ms, so Redis can be stopped while they run
  await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 150, events: EVENTS }) });
});
afterAll(async () => {
  await redis?.dispose();
});

type Row = Record<string, number | string>;
const rowOf = async (url: string, sub: string) => ((await (await admin(url, "usage", ADMIN_KEY)).json()) as Row[]).find((r) => r.sub === sub);
/** What the upstream reports for these bodies streamed (stubUsage + EVENTS output words each). */
function expected(bodies: string[]) {
  const sum = (f: (u: ReturnType<typeof stubUsage>) => number) => bodies.reduce((n, b) => n + f(stubUsage(b)), 0);
  return {
    requests: bodies.length,
    input_tokens: sum((u) => u.input_tokens),
    output_tokens: EVENTS * bodies.length,
    cache_creation_input_tokens: sum((u) => u.cache_creation_input_tokens),
    cache_read_input_tokens: sum((u) => u.cache_read_input_tokens),
  };
}
/** The replayed counts a process's log lines report (one per worker that replayed). */
const logged = (stderr: string, pattern: RegExp) => stderr.split("\n").flatMap((l) => (pattern.exec(l) ? [l] : []));
const replayedIn = (stderr: string) => logged(stderr, /spool drained/).reduce((n, l) => n + Number((JSON.parse(l) as { replayed: number }).replayed), 0);
const spoolFiles = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".jsonl"));

/** SIGKILL for the replica as a whole: its worker processes (which hold the spool files) first, then the supervisor. */
async function killHard(proxy: ProxyProcess): Promise<void> {
  const pid = proxy.child.pid as number;
  const workers = (await Bun.$`pgrep -P ${pid}`.nothrow().text()).split("\n").filter(Boolean).map(Number);
  for (const w of workers) process.kill(w, "SIGKILL");
  await proxy.stop("SIGKILL");
  for (const w of workers) while (await Bun.$`kill -0 ${w}`.nothrow().quiet().then((r) => r.exitCode === 0)) await Bun.sleep(20);
}

const spooledLines = (dir: string) =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".jsonl")).reduce((n, f) => n + readFileSync(join(dir, f), "utf8").split("\n").length - 1, 0);

/** Starts streams, waits for their first bytes, stops Redis, and reads them to the end. */
async function streamsAcrossOutage(url: string, token: string, bodies: string[]): Promise<string[]> {
  const responses = await Promise.all(bodies.map((b) => post(url, token, b)));
  for (const r of responses) expect(r.status).toBe(200);
  const readers = responses.map((r) => r.body!.getReader());
  const firsts = await Promise.all(readers.map((r) => r.read()));
  await redis.stop();
  return Promise.all(
    readers.map(async (reader, i) => {
      let text = new TextDecoder().decode(firsts[i]!.value);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
      }
    }),
  );
}

describe("fail-closed, Redis stopped mid-stream", () => {
  const spoolEnv = (dir: string) => {
    process.env.AGENT_RUNNER_PROXY_SPOOL_DIR = dir; // read by the spawned proxies
  };
  afterAll(() => {
    delete process.env.AGENT_RUNNER_PROXY_SPOOL_DIR;
  });
  const opts = () => ({ state: redis.url, failure: "closed" as const });

  test("the answers complete, their usage is spooled, and replayed into the ledger when Redis is back", async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), "ara-spool-e2e-"));
    spoolEnv(spoolDir);
    const proxy = await gateway.startProxy(opts());
    try {
      const token = await gateway.forge.sign({ sub: "sub-dora", username: "dora" });
      const bodies = [messageBody({ stream: true }), messageBody({ stream: true, max_tokens: 32 })];
      const texts = await streamsAcrossOutage(proxy.url, token, bodies);
      for (const t of texts) expect(t).toContain("event: message_stop");
      // both settles failed against the stopped Redis and are on disk instead
      await within(6000, async () => spooledLines(spoolDir) === 2);
      expect(proxy.stderr()).toContain("spooling usage");
      expect((await post(proxy.url, token, messageBody())).status).toBe(503); // still fail-closed for new requests

      await redis.start();
      await within(5000, async () => spooledLines(spoolDir) === 0 && (await rowOf(proxy.url, "sub-dora")) !== undefined);
      expect(await rowOf(proxy.url, "sub-dora")).toMatchObject(expected(bodies));
      expect(replayedIn(proxy.stderr())).toBe(2); // summed over the replica's workers
    } finally {
      await proxy.stop();
    }
  }, 40_000);

  test("SIGKILLed before Redis returns: two new processes on the same spool replay it once, totals exact", async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), "ara-spool-e2e-"));
    spoolEnv(spoolDir);
    const first = await gateway.startProxy(opts());
    const token = await gateway.forge.sign({ sub: "sub-eli", username: "eli" });
    const before = messageBody({ stream: true, max_tokens: 8 });
    let bodies: string[];
    try {
      await (await post(first.url, token, before)).text(); // written to Redis directly
      await within(2000, async () => (await rowOf(first.url, "sub-eli"))?.requests === 1);
      bodies = [1, 2, 3].map((n) => messageBody({ stream: true, max_tokens: 10 + n }));
      await streamsAcrossOutage(first.url, token, bodies);
      await within(6000, async () => spooledLines(spoolDir) === 3);
    } finally {
      await killHard(first);
    }
    const orphans = spoolFiles(spoolDir).length;
    expect(orphans).toBeGreaterThan(0);
    await redis.start();
    const [a, b] = await Promise.all([gateway.startProxy(opts()), gateway.startProxy(opts())]);
    try {
      const all = expected([before, ...bodies]);
      await within(5000, async () => (await rowOf(a.url, "sub-eli"))?.requests === all.requests);
      expect(spooledLines(spoolDir)).toBe(0);
      // a second replay would show here: give both processes time to scan again
      await Bun.sleep(1500);
      expect(await rowOf(b.url, "sub-eli")).toMatchObject(all);
      // each file of the dead replica was claimed by exactly one of the four new workers
      expect(logged(a.stderr() + b.stderr(), /taken over for replay/)).toHaveLength(orphans);
      expect(replayedIn(a.stderr() + b.stderr())).toBe(3);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 60_000);
});
