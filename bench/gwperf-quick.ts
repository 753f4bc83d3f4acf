/**
 * A narrow proxy benchmark for one change at a time (bench/proxy.ts is the full, comparative one):
 * forge-signed token, the stub upstream, the proxy with `--state` $STATE (default sqlite::memory:)
 * and `--workers` $WORKERS (default 1), wrk at 64 and 16 connections for $DURATION (default 4s).
 * Usage: bun bench/gwperf-quick.ts [state URL ...] ("redis": a redis-server started for the run);
 * PROFILE=dir adds --cpu-prof to the proxy.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startTestRedis, type TestRedis } from "../test/support/redis-server.ts";
import { startForge } from "../test/support/forge.ts";

const ROOT = join(import.meta.dir, "..");
const BUN = process.execPath;
const DURATION = process.env.DURATION ?? "4s";
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
function wrk(url: string, c: number, token: string) {
  const r = spawnSync("wrk", ["-t", String(Math.min(2, c)), "-c", String(c), "-d", DURATION, "--latency", "-s", join(ROOT, "bench", "post.lua"), url], { env: { ...process.env, BENCH_TOKEN: token }, encoding: "utf8" });
  const out = r.stdout;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p50: /^\s*50%\s+(\S+)/m.exec(out)?.[1], p99: /^\s*99%\s+(\S+)/m.exec(out)?.[1], non2xx };
}

const forge = await startForge();
const token = await forge.sign({ email: "alice@example.com", origin_jti: crypto.randomUUID() });
const stub = spawn(BUN, [join(ROOT, "bench", "stub-server.ts")], { env: { ...process.env, STUB_API_KEY: KEY }, stdio: ["ignore", "pipe", "inherit"] });
children.push(stub);
const stubUrl = await firstLine(stub);
const dir = mkdtempSync(join(tmpdir(), "gwperf-"));
writeFileSync(join(dir, "key"), KEY, { mode: 0o600 });
const states = process.argv.slice(2).length ? process.argv.slice(2) : ["sqlite::memory:"];
let redis: TestRedis | undefined;
try {
  for (const [i, stateArg] of states.entries()) {
    if (stateArg === "redis") redis ??= await startTestRedis();
    const state = stateArg === "redis" ? (redis as TestRedis).url : stateArg.replace("$DIR", dir + "/" + i);
    const port = 21000 + Math.floor(Math.random() * 9000);
    const args = [...(process.env.PROFILE ? ["--cpu-prof", "--cpu-prof-dir", process.env.PROFILE] : []), join(ROOT, "src", "proxy", "main.ts"), "--workers", process.env.WORKERS ?? "1", "--issuer", forge.issuer, "--client-id", "agent-runner-cli", "--upstream", stubUrl, "--upstream-key-file", join(dir, "key"), "--port", String(port), "--host", "127.0.0.1", "--metrics-port", "off", "--state", state];
    const proxy = spawn(BUN, args, { stdio: ["pipe", "ignore", "inherit"], env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "512", ...(process.env.WORKERS && process.env.WORKERS !== "1" ? {} : { AGENT_RUNNER_PROXY_WORKER: "0" }) } });
    children.push(proxy);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/readyz`);
    const target = `${url}/anthropic/v1/v1/messages`;
    const check = await fetch(target, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: '{"model":"m","max_tokens":8,"messages":[]}' });
    if (check.status !== 200) throw new Error(`proxy answered ${check.status}: ${await check.text()}`);
    wrk(target, 8, token);
    const hi = wrk(target, 64, token);
    const mid = wrk(target, 16, token);
    console.log(`${state}\tworkers=${process.env.WORKERS ?? 1}\t64c ${hi.rps.toFixed(0)} req/s p50 ${hi.p50} p99 ${hi.p99}\t16c ${mid.rps.toFixed(0)} req/s p50 ${mid.p50} p99 ${mid.p99}${hi.non2xx || mid.non2xx ? `\tNON-2XX ${hi.non2xx}/${mid.non2xx}` : ""}`);
    proxy.kill("SIGTERM");
    await new Promise((r) => proxy.once("exit", r));
  }
} finally {
  for (const c of children) c.kill("SIGTERM");
  forge.stop();
  await redis?.dispose();
}
