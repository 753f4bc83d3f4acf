/**
 * A narrow proxy benchmark for one change at a time (bench/proxy.ts is the full, comparative one):
 * a forge-signed token, the stub upstream, then for each argument one target measured with wrk
 * ($CONNECTIONS, default 50 and 1; $DURATION, default 4s), in the order given, $ROUNDS times
 * (default 1) so that targets alternate and the machine's drift shows:
 *   "bare"         the bare Bun fetch proxy (bench/bare-proxy.ts)
 *   "defaults"     the gateway with no flags but its tenant (what `agent-runner-proxy` picks itself)
 *   "--workers 1 --state sqlite::memory: …"   the gateway with these flags added
 * Leading NAME=value words set the gateway's environment (ROOT=dir runs another checkout's gateway).
 * "$DIR" in a flag is replaced by a fresh directory; "redis" as a --state value starts a redis-server.
 * $PROFILE=dir adds --cpu-prof to the proxy process(es); $EMAIL_AS_USERNAME=1 signs tokens
 * like an email-as-username pool (UUID username, no email: the userInfo lookup applies).
 * Usage: bun bench/gwperf-quick.ts bare defaults "--workers 1"
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startTestRedis, type TestRedis } from "../src/proxy/state/testing/redis-server.ts";
import { startForge } from "../test/support/forge.ts";

const ROOT = join(import.meta.dir, "..");
const BUN = process.execPath;
const DURATION = process.env.DURATION ?? "4s";
const CONNECTIONS = (process.env.CONNECTIONS ?? "50,1").split(",").map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const KEY = "sk-ant-bench-upstream";
const children: ChildProcess[] = [];

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (c) => reject(new Error(`exited ${c}`)));
  });
}
async function waitFor(url: string) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`${url} did not come up`);
}
/** Async, so that the forge's JWKS server in this process keeps answering (a worker may load its keys late). */
async function wrk(url: string, c: number, env: Record<string, string>) {
  const r = Bun.spawn(["wrk", "-t", String(Math.min(2, c)), "-c", String(c), "-d", DURATION, "--latency", "-s", join(ROOT, "bench", "post.lua"), url], { env: { ...process.env, ...env }, stdout: "pipe" });
  const out = await new Response(r.stdout).text();
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p50: /^\s*50%\s+(\S+)/m.exec(out)?.[1], p99: /^\s*99%\s+(\S+)/m.exec(out)?.[1], non2xx };
}
/** CPU time (ms) by thread name of a process and its descendants, from /proc (Linux). */
function cpuByThread(root: number): Map<string, number> {
  const stat = (path: string) => {
    try {
      const text = readFileSync(path, "utf8");
      const close = text.lastIndexOf(")");
      const fields = text.slice(close + 2).split(" ");
      return { comm: text.slice(text.indexOf("(") + 1, close), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), sys: Number(fields[12]) };
    } catch {
      return undefined;
    }
  };
  const pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  const parents = new Map(pids.map((p) => [p, stat(`/proc/${p}/stat`)?.ppid]));
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, pp] of parents) if (pp !== undefined && tree.has(pp) && !tree.has(p)) (tree.add(p), (grew = true));
  }
  const out = new Map<string, number>();
  for (const p of tree) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {}
    for (const t of tids) {
      const s = stat(`/proc/${p}/task/${t}/stat`);
      if (!s) continue;
      const name = t === String(p) ? "main" : s.comm.replace(/\d+$/, "").trim();
      out.set(name, (out.get(name) ?? 0) + s.ticks * 10);
      out.set("(sys)", (out.get("(sys)") ?? 0) + s.sys * 10);
    }
  }
  return out;
}
function cpuDelta(before: Map<string, number>, after: Map<string, number>, requests: number): string {
  const per = (ms: number) => ((ms * 1000) / requests).toFixed(0);
  let total = 0;
  const parts: string[] = [];
  for (const [k, v] of [...after].sort((a, b) => b[1] - a[1])) {
    const d = v - (before.get(k) ?? 0);
    if (k !== "(sys)") total += d;
    if (d * 1000 / requests >= 2) parts.push(`${k} ${per(d)}`);
  }
  return `cpu µs/req ${per(total)} (${parts.join(", ")})`;
}
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

const forge = await startForge();
const token = await forge.sign(process.env.EMAIL_AS_USERNAME ? { username: "0f9e8d7c-1111-4222-a333-444455556666" } : { email: "alice@example.com", origin_jti: crypto.randomUUID() });
const stub = spawn(BUN, [join(ROOT, "bench", "stub-server.ts")], { env: { ...process.env, STUB_API_KEY: KEY }, stdio: ["ignore", "pipe", "inherit"] });
children.push(stub);
const stubUrl = await firstLine(stub);
const dir = mkdtempSync(join(tmpdir(), "gwperf-"));
writeFileSync(join(dir, "key"), KEY, { mode: 0o600 });
const variants = process.argv.slice(2).length ? process.argv.slice(2) : ["bare", "defaults"];
let redis: TestRedis | undefined;
const summary: Record<string, { rps: number; cpu: number }[]> = {};
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, variant] of variants.entries()) {
      const port = 21000 + Math.floor(Math.random() * 9000);
      const url = `http://127.0.0.1:${port}`;
      let child: ChildProcess;
      let target: string;
      let env: Record<string, string>;
      if (variant === "bare") {
        child = spawn(BUN, [join(ROOT, "bench", "bare-proxy.ts")], { stdio: "ignore", env: { ...process.env, BARE_PORT: String(port), BARE_UPSTREAM: stubUrl } });
        target = `${url}/v1/messages`;
        env = { BENCH_UPSTREAM_KEY: KEY };
      } else {
        // leading NAME=value words: environment of the gateway process
        const words = variant.split(/\s+/).filter(Boolean);
        const extraEnv: Record<string, string> = {};
        while (words[0] && /^[A-Z_]+=/.test(words[0])) {
          const [k, ...v] = (words.shift() as string).split("=");
          extraEnv[k as string] = v.join("=");
        }
        const flags = words.filter((w) => w !== "defaults");
        if (flags.includes("redis")) redis ??= await startTestRedis();
        const resolved = flags.map((f) => (f === "redis" ? (redis as TestRedis).url : f.replace("$DIR", join(dir, `${round}-${i}`))));
        // ROOT=dir (not passed on): run the gateway of another checkout, e.g. the code before a change
        const root = extraEnv.ROOT ?? ROOT;
        delete extraEnv.ROOT;
        const args = [join(root, "src", "proxy", "main.ts"), "--issuer", forge.issuer, "--client-id", "agent-runner-cli", "--upstream", stubUrl, "--upstream-key-file", join(dir, "key"), "--port", String(port), "--host", "127.0.0.1", ...resolved];
        // stdout (one log line per request) to /dev/null, as bench/proxy.ts does; stderr shown
        // BUN_OPTIONS reaches the processes the gateway starts itself (its re-run, the workers)
        const profile = process.env.PROFILE ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.PROFILE}` } : {};
        child = spawn(BUN, args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...profile, ...extraEnv } });
        target = `${url}/anthropic/v1/v1/messages`;
        env = { BENCH_TOKEN: token };
      }
      children.push(child);
      await waitFor(variant === "bare" ? `${url}/healthz` : `${url}/readyz`);
      const check = await fetch(target, { method: "POST", headers: { authorization: `Bearer ${token}`, "x-api-key": variant === "bare" ? KEY : token, "content-type": "application/json" }, body: '{"model":"m","max_tokens":8,"messages":[]}' });
      if (check.status !== 200) throw new Error(`${variant} answered ${check.status}: ${await check.text()}`);
      await wrk(target, 8, env);
      const cells: string[] = [];
      let [firstRps, firstCpu] = [0, 0];
      for (const c of CONNECTIONS) {
        const before = cpuByThread(child.pid as number);
        const r = await wrk(target, c, env);
        const cpu = c === CONNECTIONS[0] ? ` ${cpuDelta(before, cpuByThread(child.pid as number), r.rps * parseFloat(DURATION))}` : "";
        if (c === CONNECTIONS[0]) [firstRps, firstCpu] = [r.rps, Number(/cpu µs\/req (\d+)/.exec(cpu)?.[1])];
        cells.push(`${c}c ${r.rps.toFixed(0)} req/s p50 ${r.p50} p99 ${r.p99}${r.non2xx ? ` NON-2XX ${r.non2xx}` : ""}${cpu}`);
      }
      console.log(`${variant.padEnd(48)}\t${cells.join("\t")}`);
      (summary[variant] ??= []).push({ rps: firstRps, cpu: firstCpu });
      await stop(child);
    }
  }
  if (ROUNDS > 1) {
    console.log(`\nmedians of ${ROUNDS} rounds at ${CONNECTIONS[0]} connections:`);
    for (const [v, xs] of Object.entries(summary)) console.log(`${v.padEnd(48)}\t${median(xs.map((x) => x.rps)).toFixed(0)} req/s\tcpu ${median(xs.map((x) => x.cpu))} µs/req\t(req/s ${xs.map((x) => x.rps.toFixed(0)).join(" ")})`);
  }
} finally {
  await Promise.all(children.map(stop));
  forge.stop();
  await redis?.dispose();
}
