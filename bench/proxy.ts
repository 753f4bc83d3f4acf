/**
 * Proxy benchmark, all in one run on this machine, each server its own process(es), one target
 * at a time (the others stopped):
 *  - wrk against the stub upstream directly, through the tenant proxy with 1 process and with N
 *    worker processes (`--workers N`, N = cores, sharing the port and a SQLite state file), and
 *    through nginx with 1 and N `worker_processes` as a plain reverse proxy in front of the same
 *    stub: requests/s at 64 connections, p50/p99 at 16 connections (moderate load) and at 1;
 *  - the experiment (bench/relay-experiment.ts, not wired into the proxy): a ten-line `fetch`
 *    pass-through and a pooled keep-alive HTTP/1.1 relay on `Bun.connect`, both 1 process;
 *  - time to first SSE event, and 1,000 concurrent open streams through the N-worker proxy;
 *  - the proxy by `--state` (in memory, SQLite file, a local redis-server; 1 and N workers),
 *    shorter runs, to show what the state store costs.
 * Prints a Markdown report and writes bench/results/proxy.md.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startTestRedis } from "../test/support/redis-server.ts";
import { startTenant, ROOT, BUN } from "../test/support/tenant.ts";
import { BINARY, baseEnv, isolatedHome, scriptedBrowser } from "../test/support/cli.ts";
import { ensureFetchConcurrency } from "../src/shared/fetch-concurrency.ts";

// The 1,000-stream run needs more than Bun's default 256 client connections in THIS process too
// (without it the streams queue and take ~24 s); re-run with the variable set when it is not.
if (!ensureFetchConcurrency()) await new Promise(() => {});

const DURATION = process.env.BENCH_DURATION ?? "8s";
const UPSTREAM_KEY = "sk-ant-bench-upstream";
const children: ChildProcess[] = [];

async function startProcess(command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`${command} exited ${code}: ${stderr}`)));
  });
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`${url} did not come up`);
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: string;
}

function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as "us" | "ms" | "s" | "m"];
}

function wrk(url: string, connections: number, env: Record<string, string>, duration = DURATION): WrkResult {
  const threads = Math.min(2, connections);
  const r = spawnSync("wrk", ["-t", String(threads), "-c", String(connections), "-d", duration, "--latency", "-s", join(ROOT, "bench", "post.lua"), url], {
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const errors = [/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1], /Socket errors: (.*)/.exec(out)?.[1]].filter(Boolean).join("; ");
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    // the distribution lines start with the percentile ("Thread Stats" lines also contain "50%")
    p50: toMs(/^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? ""),
    p99: toMs(/^\s*99%\s+(\S+)/m.exec(out)?.[1] ?? ""),
    errors: errors || "none",
  };
}

async function timeToFirstEvent(url: string, headers: Record<string, string>, samples: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const response = await fetch(url, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ model: "m", max_tokens: 8, stream: true, messages: [{ role: "user", content: "hi" }] }) });
    const reader = response.body!.getReader();
    await reader.read();
    times.push(performance.now() - started);
    await reader.cancel();
  }
  return times.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

async function concurrentStreams(url: string, token: string, count: number): Promise<{ ok: number; failed: number; seconds: number; errors: string[] }> {
  const started = performance.now();
  const errors: string[] = [];
  const results = await Promise.all(
    Array.from({ length: count }, async () => {
      try {
        const response = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ model: "m", stream: true, messages: [] }) });
        const text = await response.text();
        return response.status === 200 && text.includes("message_stop");
      } catch (e) {
        if (errors.length < 3) errors.push(String(e));
        return false;
      }
    }),
  );
  const ok = results.filter(Boolean).length;
  return { ok, failed: count - ok, seconds: (performance.now() - started) / 1000, errors };
}

const WORKERS = Number(process.env.BENCH_WORKERS ?? cpus().length);

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

interface Row {
  name: string;
  hi: WrkResult;
  mid: WrkResult;
  lo: WrkResult;
}

/** The three wrk runs of one target (after a warm-up). */
function measure(name: string, url: string, env: Record<string, string>): Row {
  wrk(url, 8, env);
  return { name, hi: wrk(url, 64, env), mid: wrk(url, 16, env), lo: wrk(url, 1, env) };
}

const tenant = await startTenant();
try {
  // A real token from the local IdP, through the CLI.
  const user = tenant.users[0]!;
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password) });
  spawnSync(BINARY, ["login", tenant.tenant], { env });
  const token = spawnSync(BINARY, ["token"], { env, encoding: "utf8" }).stdout.trim();
  if (!token) throw new Error("could not get a token");

  const stubUrl = await startProcess(BUN, [join(ROOT, "bench", "stub-server.ts")], { STUB_API_KEY: UPSTREAM_KEY });
  const dir = mkdtempSync(join(tmpdir(), "ara-bench-"));
  const upstreamKeyFile = join(dir, "key");
  writeFileSync(upstreamKeyFile, UPSTREAM_KEY, { mode: 0o600 });
  const basePort = 20000 + Math.floor(Math.random() * 10000);

  async function startProxy(workers: number, port: number, state: string): Promise<{ url: string; child: ChildProcess }> {
    const args = [join(ROOT, "src", "proxy", "main.ts"), "--workers", String(workers), "--issuer", tenant.issuer, "--client-id", tenant.client_id, "--upstream", stubUrl, "--upstream-key-file", upstreamKeyFile, "--port", String(port), "--host", "127.0.0.1", "--metrics-port", "off", "--state", state];
    // Its per-request log lines go to /dev/null here, but they are still produced.
    const child = spawn(BUN, args, { stdio: "ignore" });
    children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/readyz`);
    return { url, child };
  }

  async function startNginx(workers: number, nginxPort: number): Promise<{ url: string; child: ChildProcess }> {
    const nginxDir = mkdtempSync(join(tmpdir(), "ara-nginx-"));
    writeFileSync(
      join(nginxDir, "nginx.conf"),
      `daemon off; worker_processes ${workers}; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${nginxDir}/body; proxy_temp_path ${nginxDir}/proxy; fastcgi_temp_path ${nginxDir}/fcgi; uwsgi_temp_path ${nginxDir}/uwsgi; scgi_temp_path ${nginxDir}/scgi;
  upstream stub { server ${new URL(stubUrl).host}; keepalive 128; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://stub; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`,
    );
    const child = spawn("nginx", ["-c", join(nginxDir, "nginx.conf"), "-p", nginxDir], { stdio: "ignore" });
    children.push(child);
    const url = `http://127.0.0.1:${nginxPort}`;
    await waitFor(`${url}/v1/models`);
    return { url, child };
  }

  async function startExperiment(mode: "fetch" | "relay", port: number): Promise<{ url: string; child: ChildProcess }> {
    const child = spawn(BUN, [join(ROOT, "bench", "relay-experiment.ts")], { stdio: "ignore", env: { ...process.env, RELAY_MODE: mode, RELAY_PORT: String(port), RELAY_UPSTREAM: stubUrl } });
    children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/healthz`);
    return { url, child };
  }

  const asUser = { BENCH_TOKEN: token };
  const asUpstream = { BENCH_UPSTREAM_KEY: UPSTREAM_KEY };
  const rows: Row[] = [];
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const loadBefore = load();

  rows.push(measure("stub upstream, direct", `${stubUrl}/v1/messages`, asUpstream));
  let target = await startProxy(1, basePort, "sqlite::memory:");
  rows.push(measure("tenant proxy, 1 process (state in memory)", `${target.url}/anthropic/v1/v1/messages`, asUser));
  await stopChild(target.child);
  target = await startNginx(1, basePort + 1);
  rows.push(measure("nginx, 1 worker", `${target.url}/v1/messages`, asUpstream));
  await stopChild(target.child);
  target = await startProxy(WORKERS, basePort + 2, `sqlite:${join(dir, "state.db")}`);
  const workersUrl = target.url;
  rows.push(measure(`tenant proxy, --workers ${WORKERS} (shared SQLite state)`, `${target.url}/anthropic/v1/v1/messages`, asUser));
  const workersChild = target.child;
  target = await startNginx(WORKERS, basePort + 3);
  // the N-worker proxy stays up (idle) for the stream runs below
  rows.push(measure(`nginx, ${WORKERS} workers`, `${target.url}/v1/messages`, asUpstream));
  await stopChild(target.child);
  target = await startExperiment("fetch", basePort + 4);
  rows.push(measure("experiment: 10-line fetch pass-through, 1 process, no auth", `${target.url}/v1/messages`, asUpstream));
  await stopChild(target.child);
  target = await startExperiment("relay", basePort + 5);
  rows.push(measure("experiment: Bun.connect keep-alive relay, 1 process, no auth", `${target.url}/v1/messages`, asUpstream));
  await stopChild(target.child);

  const viaProxy = `${workersUrl}/anthropic/v1/v1/messages`;
  const ttfeDirect = await timeToFirstEvent(`${stubUrl}/v1/messages`, { "x-api-key": UPSTREAM_KEY }, 300);
  const ttfeProxy = await timeToFirstEvent(viaProxy, { authorization: `Bearer ${token}` }, 300);
  await fetch(`${stubUrl}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 500, events: 6 }) });
  const streams = await concurrentStreams(viaProxy, token, 1000);
  await fetch(`${stubUrl}/_stub/reset`, { method: "POST" });
  await stopChild(workersChild);

  // what the state store costs: the same proxy by --state, shorter runs
  const redis = await startTestRedis();
  const byState: { name: string; hi: WrkResult; mid: WrkResult }[] = [];
  const STATE_DURATION = process.env.BENCH_STATE_DURATION ?? "4s";
  const short = (url: string, c: number) => wrk(url, c, asUser, STATE_DURATION);
  try {
    const variants: [string, number, string][] = [
      ["1 process, `sqlite::memory:`", 1, "sqlite::memory:"],
      ["1 process, SQLite file (WAL)", 1, `sqlite:${join(dir, "state-1.db")}`],
      ["1 process, Redis (local redis-server)", 1, redis.url],
      [`${WORKERS} workers, one SQLite file`, WORKERS, `sqlite:${join(dir, "state-n.db")}`],
      [`${WORKERS} workers, Redis`, WORKERS, redis.url],
    ];
    for (const [i, [name, workers, state]] of variants.entries()) {
      target = await startProxy(workers, basePort + 10 + i, state);
      const url = `${target.url}/anthropic/v1/v1/messages`;
      short(url, 8);
      byState.push({ name, hi: short(url, 64), mid: short(url, 16) });
      await stopChild(target.child);
    }
  } finally {
    await redis.dispose();
  }

  const [d, p1, n1, pN, nN] = rows as [Row, Row, Row, Row, Row];
  const ms = (n: number, digits = 2) => `${n.toFixed(digits)} ms`;
  const report = [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpus()[0]?.model ?? "?"} (${cpus().length} vCPU, load average before: ${loadBefore}); wrk (2 threads), ${DURATION} per run, the load generator, the stub and the target on the same cores. Non-streamed POST /v1/messages, one target running at a time.`,
    "",
    "| target | req/s (64 conn) | p50 / p99 (64 conn) | p50 / p99 (16 conn) | p50 / p99 (1 conn) | errors |",
    "|---|---:|---:|---:|---:|---|",
    ...rows.map(({ name, hi, mid, lo }) => `| ${name} | ${hi.rps.toFixed(0)} | ${ms(hi.p50)} / ${ms(hi.p99)} | ${ms(mid.p50)} / ${ms(mid.p99)} | ${ms(lo.p50, 3)} / ${ms(lo.p99, 3)} | ${[hi.errors, mid.errors, lo.errors].filter((e) => e !== "none").join("; ") || "none"} |`),
    "",
    `Throughput vs nginx with the same number of workers: 1 vs 1 **${(p1.hi.rps / n1.hi.rps).toFixed(2)}×**, ${WORKERS} vs ${WORKERS} **${(pN.hi.rps / nN.hi.rps).toFixed(2)}×**.`,
    `Added latency p50 (proxy - direct): at 16 connections ${ms(p1.mid.p50 - d.mid.p50, 3)} (1 process), ${ms(pN.mid.p50 - d.mid.p50, 3)} (${WORKERS} workers); at 1 connection ${ms(p1.lo.p50 - d.lo.p50, 3)} / ${ms(pN.lo.p50 - d.lo.p50, 3)}.`,
    "",
    `Time to first SSE event (300 sequential streamed requests, ${WORKERS}-worker proxy): direct p50 ${pct(ttfeDirect, 50).toFixed(2)} ms / p99 ${pct(ttfeDirect, 99).toFixed(2)} ms; through the proxy p50 ${pct(ttfeProxy, 50).toFixed(2)} ms / p99 ${pct(ttfeProxy, 99).toFixed(2)} ms.`,
    "",
    `1,000 concurrent streams through the ${WORKERS}-worker proxy (each 3 s long): ${streams.ok} completed, ${streams.failed} failed, in ${streams.seconds.toFixed(1)} s${streams.errors.length ? ` (${streams.errors.join("; ")})` : ""}.`,
    "",
    `The proxy by \`--state\` (same run, wrk ${STATE_DURATION} per figure; no budget or limit configured):`,
    "",
    "| proxy | req/s (64 conn) | p50 / p99 (64 conn) | req/s (16 conn) | p50 / p99 (16 conn) | errors |",
    "|---|---:|---:|---:|---:|---|",
    ...byState.map(({ name, hi, mid }) => `| ${name} | ${hi.rps.toFixed(0)} | ${ms(hi.p50)} / ${ms(hi.p99)} | ${mid.rps.toFixed(0)} | ${ms(mid.p50)} / ${ms(mid.p99)} | ${[hi.errors, mid.errors].filter((e) => e !== "none").join("; ") || "none"} |`),
  ].join("\n");
  console.log(report);
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "proxy.md"), report + "\n");
} finally {
  await Promise.all(children.map(stopChild));
  await tenant.stop();
}
