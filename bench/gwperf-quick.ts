/**
 * A narrow proxy benchmark for one change at a time (bench/proxy.ts is the full, comparative one):
 * a forge-signed token, the stub upstream, then for each argument one target measured with wrk
 * ($CONNECTIONS, default 50 and 1; $DURATION, default 4s), in the order given, $ROUNDS times
 * (default 1) so that targets alternate and the machine's drift shows; with rounds, the medians.
 * The CPU time per request of the target (by thread) is the steadier figure on a shared machine.
 *   "bare"         the bare Bun fetch proxy (bench/bare-proxy.ts)
 *   "defaults"     the gateway with no flags but its tenant (what `agent-runner-proxy` picks itself)
 *   "--workers 1 --state sqlite::memory: …"   the gateway with these flags added
 * Leading NAME=value words set the gateway's environment (ROOT=dir runs another checkout's gateway).
 * "$DIR" in a flag is replaced by a fresh directory; "redis" as a --state value starts a redis-server.
 * $PROFILE=dir writes CPU profiles of the gateway's processes; $EMAIL_AS_USERNAME=1 signs tokens
 * like an email-as-username pool (UUID username, no email: the userInfo lookup applies).
 * Usage: bun bench/gwperf-quick.ts bare defaults "--workers 1"
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestRedis, type TestRedis } from "../test/support/redis-server.ts";
import { startForge } from "../test/support/forge.ts";
import { randomPort } from "../test/support/ports.ts";
import { BUN, cpuByThread, cpuPerRequest, describeCpu, firstLine, median, ROOT, stopChild, waitFor, wrk } from "./support.ts";

const DURATION = process.env.DURATION ?? "4s";
const CONNECTIONS = (process.env.CONNECTIONS ?? "50,1").split(",").map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const KEY = "sk-ant-bench-upstream";
const children: ChildProcess[] = [];

const forge = await startForge();
const token = await forge.sign(process.env.EMAIL_AS_USERNAME ? { username: "0f9e8d7c-1111-4222-a333-444455556666" } : { email: "alice@example.com", origin_jti: crypto.randomUUID() });
const stub = spawn(BUN, [join(ROOT, "bench", "stub-server.ts")], { env: { ...process.env, STUB_API_KEY: KEY }, stdio: ["ignore", "pipe", "inherit"] });
children.push(stub);
const stubUrl = await firstLine(stub);
const dir = mkdtempSync(join(tmpdir(), "gwperf-"));
writeFileSync(join(dir, "key"), KEY, { mode: 0o600 });
const variants = process.argv.slice(2).length ? process.argv.slice(2) : ["bare", "defaults"];
const summary: Record<string, { rps: number; cpu: number }[]> = {};
let redis: TestRedis | undefined;

async function start(variant: string, round: number, i: number): Promise<{ child: ChildProcess; target: string; env: Record<string, string>; ready: string }> {
  const port = randomPort();
  const url = `http://127.0.0.1:${port}`;
  if (variant === "bare") {
    const child = spawn(BUN, [join(ROOT, "bench", "bare-proxy.ts")], { stdio: "ignore", env: { ...process.env, BARE_PORT: String(port), BARE_UPSTREAM: stubUrl } });
    return { child, target: `${url}/v1/messages`, env: { BENCH_UPSTREAM_KEY: KEY }, ready: `${url}/healthz` };
  }
  const words = variant.split(/\s+/).filter(Boolean);
  const extraEnv: Record<string, string> = {};
  while (words[0] && /^[A-Z_]+=/.test(words[0])) {
    const [k, ...v] = (words.shift() as string).split("=");
    extraEnv[k as string] = v.join("=");
  }
  const root = extraEnv.ROOT ?? ROOT;
  delete extraEnv.ROOT;
  const flags = words.filter((w) => w !== "defaults");
  if (flags.includes("redis")) redis ??= await startTestRedis();
  const resolved = flags.map((f) => (f === "redis" ? (redis as TestRedis).url : f.replace("$DIR", join(dir, `${round}-${i}`))));
  const args = [join(root, "src", "proxy", "main.ts"), "--issuer", forge.issuer, "--client-id", "agent-runner-cli", "--upstream", stubUrl, "--upstream-key-file", join(dir, "key"), "--port", String(port), "--host", "127.0.0.1", "--metrics-port", String(randomPort()), ...resolved];
  // BUN_OPTIONS reaches the processes the gateway starts itself (its re-run, the workers)
  const profile = process.env.PROFILE ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.PROFILE}` } : {};
  // stdout (one log line per request) to /dev/null, as bench/proxy.ts does; stderr shown
  const child = spawn(BUN, args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...profile, ...extraEnv } });
  return { child, target: `${url}/anthropic/v1/v1/messages`, env: { BENCH_TOKEN: token }, ready: `${url}/readyz` };
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, variant] of variants.entries()) {
      const { child, target, env, ready } = await start(variant, round, i);
      children.push(child);
      await waitFor(ready);
      const check = await fetch(target, { method: "POST", headers: { authorization: `Bearer ${token}`, "x-api-key": variant === "bare" ? KEY : token, "content-type": "application/json" }, body: '{"model":"m","max_tokens":8,"messages":[]}' });
      if (check.status !== 200) throw new Error(`${variant} answered ${check.status}: ${await check.text()}`);
      await wrk(target, 8, env, "2s");
      const cells: string[] = [];
      for (const [k, c] of CONNECTIONS.entries()) {
        const before = cpuByThread(child.pid as number);
        const r = await wrk(target, c, env, DURATION);
        const cpu = cpuPerRequest(before, cpuByThread(child.pid as number), r.requests);
        if (k === 0) (summary[variant] ??= []).push({ rps: r.rps, cpu: cpu.total });
        cells.push(`${c}c ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms${r.errors !== "none" ? ` ERRORS ${r.errors}` : ""}${k === 0 ? ` cpu µs/req ${describeCpu(cpu)}` : ""}`);
      }
      console.log(`${variant.padEnd(48)}\t${cells.join("\t")}`);
      await stopChild(child);
    }
  }
  if (ROUNDS > 1) {
    console.log(`\nmedians of ${ROUNDS} rounds at ${CONNECTIONS[0]} connections:`);
    for (const [v, xs] of Object.entries(summary)) console.log(`${v.padEnd(48)}\t${median(xs.map((x) => x.rps)).toFixed(0)} req/s\tcpu ${median(xs.map((x) => x.cpu)).toFixed(0)} µs/req\t(req/s ${xs.map((x) => x.rps.toFixed(0)).join(" ")})`);
  }
} finally {
  await Promise.all(children.map(stopChild));
  forge.stop();
  await redis?.dispose();
}
