/**
 * Proxy benchmark, all in one run on this machine:
 *  - wrk against the stub upstream directly, through the tenant proxy (JWT verification on every
 *    request), and through nginx as a plain reverse proxy (no auth) in front of the same stub:
 *    requests/s at 64 connections, and latency p50/p99 at 1 connection (added latency = proxy - direct);
 *  - time to first SSE event for a streamed answer, through the proxy vs direct;
 *  - 1,000 concurrent open streams through the proxy.
 * Each server is its own process. Prints a Markdown report and writes bench/results/proxy.md.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startTenant, ROOT, BUN } from "../test/support/tenant.ts";
import { BINARY, baseEnv, isolatedHome, scriptedBrowser } from "../test/support/cli.ts";

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

function wrk(url: string, connections: number, env: Record<string, string>): WrkResult {
  const threads = Math.min(2, connections);
  const r = spawnSync("wrk", ["-t", String(threads), "-c", String(connections), "-d", DURATION, "--latency", "-s", join(ROOT, "bench", "post.lua"), url], {
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

const tenant = await startTenant();
try {
  // A real token from the local IdP, through the CLI.
  const user = tenant.users[0]!;
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password) });
  spawnSync(BINARY, ["login", tenant.tenant], { env });
  const token = spawnSync(BINARY, ["token"], { env, encoding: "utf8" }).stdout.trim();
  if (!token) throw new Error("could not get a token");

  const stubUrl = await startProcess(BUN, [join(ROOT, "bench", "stub-server.ts")], { STUB_API_KEY: UPSTREAM_KEY });
  const upstreamKeyFile = join(mkdtempSync(join(tmpdir(), "ara-bench-")), "key");
  writeFileSync(upstreamKeyFile, UPSTREAM_KEY, { mode: 0o600 });
  const proxyPort = 20000 + Math.floor(Math.random() * 20000);
  const proxyArgs = [join(ROOT, "src", "proxy", "main.ts"), "--issuer", tenant.issuer, "--client-id", tenant.client_id, "--upstream", stubUrl, "--upstream-key-file", upstreamKeyFile, "--port", String(proxyPort), "--host", "127.0.0.1", "--metrics-port", "off"];
  // Its per-request log lines go to /dev/null here, but they are still produced.
  children.push(spawn(BUN, proxyArgs, { stdio: "ignore" }));
  const proxyUrl = `http://127.0.0.1:${proxyPort}`;
  await waitFor(`${proxyUrl}/readyz`);

  async function startNginx(workers: number, nginxPort: number): Promise<string> {
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
  children.push(spawn("nginx", ["-c", join(nginxDir, "nginx.conf"), "-p", nginxDir], { stdio: "ignore" }));
  const nginxUrl = `http://127.0.0.1:${nginxPort}`;
  await waitFor(`${nginxUrl}/v1/models`);
  return nginxUrl;
  }
  const nginxUrl = await startNginx(1, proxyPort + 1);

  const viaProxy = `${proxyUrl}/anthropic/v1/v1/messages`;
  const direct = `${stubUrl}/v1/messages`;
  const viaNginx = `${nginxUrl}/v1/messages`;

  const asUser = { BENCH_TOKEN: token };
  const asUpstream = { BENCH_UPSTREAM_KEY: UPSTREAM_KEY };

  // warm up every path
  for (const [url, e] of [[direct, asUpstream], [viaProxy, asUser], [viaNginx, asUpstream]] as const) wrk(url, 8, { ...e });

  const rows: [string, WrkResult, WrkResult][] = [];
  rows.push(["stub upstream, direct", wrk(direct, 64, asUpstream), wrk(direct, 1, asUpstream)]);
  rows.push(["tenant proxy (JWT verified per request)", wrk(viaProxy, 64, asUser), wrk(viaProxy, 1, asUser)]);
  rows.push(["nginx, 1 worker, plain reverse proxy", wrk(viaNginx, 64, asUpstream), wrk(viaNginx, 1, asUpstream)]);


  const ttfeDirect = await timeToFirstEvent(direct, { "x-api-key": UPSTREAM_KEY }, 300);
  const ttfeProxy = await timeToFirstEvent(viaProxy, { authorization: `Bearer ${token}` }, 300);

  await fetch(`${stubUrl}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 500, events: 6 }) });
  const streams = await concurrentStreams(viaProxy, token, 1000);
  await fetch(`${stubUrl}/_stub/reset`, { method: "POST" });

  const [d, p] = [rows[0]!, rows[1]!];
  const report = [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpus()[0]?.model ?? "?"} (${cpus().length} vCPU); wrk, ${DURATION} per run, load generator on the same machine. Non-streamed POST /v1/messages.`,
    "",
    "| target | req/s (64 conn) | p50 (64 conn) | p99 (64 conn) | p50 (1 conn) | p99 (1 conn) | errors |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...rows.map(([name, hi, lo]) => `| ${name} | ${hi.rps.toFixed(0)} | ${hi.p50.toFixed(2)} ms | ${hi.p99.toFixed(2)} ms | ${lo.p50.toFixed(3)} ms | ${lo.p99.toFixed(3)} ms | ${[hi.errors, lo.errors].filter((e) => e !== "none").join("; ") || "none"} |`),
    "",
    `Added latency of the proxy at 1 connection: p50 **${(p[2].p50 - d[2].p50).toFixed(3)} ms**, p99 ${(p[2].p99 - d[2].p99).toFixed(3)} ms. Throughput vs nginx (1 worker, like the proxy's 1 process): **${(p[1].rps / rows[2]![1].rps).toFixed(2)}×**.`,
    "",
    `Time to first SSE event (300 sequential streamed requests): direct p50 ${pct(ttfeDirect, 50).toFixed(2)} ms / p99 ${pct(ttfeDirect, 99).toFixed(2)} ms; through the proxy p50 ${pct(ttfeProxy, 50).toFixed(2)} ms / p99 ${pct(ttfeProxy, 99).toFixed(2)} ms.`,
    "",
    `1,000 concurrent streams through the proxy (each 3 s long): ${streams.ok} completed, ${streams.failed} failed, in ${streams.seconds.toFixed(1)} s${streams.errors.length ? ` (${streams.errors.join("; ")})` : ""}.`,
  ].join("\n");
  console.log(report);
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "proxy.md"), report + "\n");
} finally {
  for (const c of children) c.kill("SIGTERM");
  await tenant.stop();
}
