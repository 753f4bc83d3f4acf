/**
 * Proxy benchmark, all in one run on this machine, each server its own process(es), one target
 * at a time (the others stopped), non-streamed POST /v1/messages with wrk:
 *
 * 1. The headline (issue 17): the gateway **as a user gets it** (`agent-runner-proxy` with its
 *    tenant and nothing else: the worker count, state store and userInfo lookup it picks itself),
 *    a bare Bun `fetch` proxy (bench/bare-proxy.ts, the reference) and nginx (1 worker), in front
 *    of the same stub upstream. $BENCH_ROUNDS rounds (default 3), the three targets alternating,
 *    so the machine's drift shows; each: req/s at 50 connections, p50/p99, p50 at 1 connection,
 *    and the CPU time per request of the target, the stub and wrk. The ratio gateway / bare is
 *    taken within each round; the report gives every round and the median.
 * 2. The rest (skipped with `--headline`): the stub directly, the gateway with 1 process and
 *    with N workers (`--workers N`, N = cores, one SQLite file), nginx with 1 and N workers,
 *    the relay experiment (bench/relay-experiment.ts); time to first SSE event and 1,000
 *    concurrent streams through the N-worker gateway; the gateway by `--state`.
 *
 * The token is a real one from the local tenant's IdP, through the CLI, for its email-sign-in
 * user (a UUID username, no email in the token): the gateway looks the email up at userInfo
 * once and answers from its cache after, the costlier of the two pool shapes.
 * Prints a Markdown report and writes bench/results/proxy.md (or proxy-headline.md).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { startTestRedis } from "../src/proxy/state/testing/redis-server.ts";
import { defaultWorkerCount } from "../src/proxy/workers.ts";
import { EMAIL_SIGN_IN_USER } from "../src/tenant/idp/accounts.ts";
import { ensureFetchConcurrency } from "../src/shared/fetch-concurrency.ts";
import { BINARY, baseEnv, isolatedHome, scriptedBrowser } from "../test/support/cli.ts";
import { portBlock } from "../test/support/ports.ts";
import { startTenant } from "../test/support/tenant.ts";
import { BUN, cpuByThread, cpuPerRequest, describeCpu, firstLine, loadAverage, median, ROOT, startNginx, stopChild, waitFor, wrk, type WrkResult } from "./support.ts";

// The 1,000-stream run needs more than Bun's default 256 client connections in THIS process too
// (without it the streams queue and take ~24 s); re-run with the variable set when it is not.
if (!ensureFetchConcurrency()) await new Promise(() => {});

const HEADLINE_ONLY = process.argv.includes("--headline");
const DURATION = process.env.BENCH_DURATION ?? "8s";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HEADLINE_CONNECTIONS = 50;
const WORKERS = Number(process.env.BENCH_WORKERS ?? cpus().length);
const UPSTREAM_KEY = "sk-ant-bench-upstream";
const children: ChildProcess[] = [];
const ports = portBlock(40);
let nextPort = 0;
const port = () => ports[nextPort++] as number;

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

interface Target {
  url: string;
  child: ChildProcess;
  /** Credentials wrk sends (the gateway's user token, or the upstream key for the others). */
  env: Record<string, string>;
}

const tenant = await startTenant();
try {
  // A real token from the local IdP, through the CLI, for the email-sign-in user (UUID username).
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(EMAIL_SIGN_IN_USER.email as string, EMAIL_SIGN_IN_USER.password) });
  const login = spawnSync(BINARY, ["login", tenant.tenant], { env, encoding: "utf8" });
  const token = spawnSync(BINARY, ["token"], { env, encoding: "utf8" }).stdout.trim();
  if (!token) throw new Error(`could not get a token: ${login.stderr}`);

  const stubChild = spawn(BUN, [join(ROOT, "bench", "stub-server.ts")], { env: { ...process.env, STUB_API_KEY: UPSTREAM_KEY }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(stubChild);
  const stubUrl = await firstLine(stubChild);
  const dir = mkdtempSync(join(tmpdir(), "ara-bench-"));
  const upstreamKeyFile = join(dir, "key");
  writeFileSync(upstreamKeyFile, UPSTREAM_KEY, { mode: 0o600 });
  const asUser = { BENCH_TOKEN: token };
  const asUpstream = { BENCH_UPSTREAM_KEY: UPSTREAM_KEY };
  const tenantFlags = ["--issuer", tenant.issuer, "--client-id", tenant.client_id, "--upstream", stubUrl, "--upstream-key-file", upstreamKeyFile, "--host", "127.0.0.1"];

  const started = (child: ChildProcess) => (children.push(child), child);
  // Per-request log lines go to /dev/null here (still produced and written).
  async function gatewayDefaults(): Promise<Target> {
    // only the tenant, a free port and a free metrics port (the default 9464 may be taken here): everything else as shipped
    const p = port();
    const child = started(spawn(BUN, [join(ROOT, "src", "proxy", "main.ts"), ...tenantFlags, "--port", String(p), "--metrics-port", String(port())], { stdio: "ignore" }));
    await waitFor(`http://127.0.0.1:${p}/readyz`);
    return { url: `http://127.0.0.1:${p}/anthropic/v1/v1/messages`, child, env: asUser };
  }
  async function gateway(workers: number, state: string): Promise<Target> {
    const p = port();
    const child = started(spawn(BUN, [join(ROOT, "src", "proxy", "main.ts"), "--workers", String(workers), ...tenantFlags, "--port", String(p), "--metrics-port", "off", "--state", state], { stdio: "ignore" }));
    await waitFor(`http://127.0.0.1:${p}/readyz`);
    return { url: `http://127.0.0.1:${p}/anthropic/v1/v1/messages`, child, env: asUser };
  }
  async function bare(): Promise<Target> {
    const p = port();
    const child = started(spawn(BUN, [join(ROOT, "bench", "bare-proxy.ts")], { stdio: "ignore", env: { ...process.env, BARE_PORT: String(p), BARE_UPSTREAM: stubUrl } }));
    await waitFor(`http://127.0.0.1:${p}/healthz`);
    return { url: `http://127.0.0.1:${p}/v1/messages`, child, env: asUpstream };
  }
  async function nginx(workers: number): Promise<Target> {
    const p = port();
    const child = started(startNginx(workers, p, stubUrl));
    await waitFor(`http://127.0.0.1:${p}/v1/models`);
    return { url: `http://127.0.0.1:${p}/v1/messages`, child, env: asUpstream };
  }
  async function experiment(mode: "fetch" | "relay"): Promise<Target> {
    const p = port();
    const child = started(spawn(BUN, [join(ROOT, "bench", "relay-experiment.ts")], { stdio: "ignore", env: { ...process.env, RELAY_MODE: mode, RELAY_PORT: String(p), RELAY_UPSTREAM: stubUrl } }));
    await waitFor(`http://127.0.0.1:${p}/healthz`);
    return { url: `http://127.0.0.1:${p}/v1/messages`, child, env: asUpstream };
  }
  const direct = { url: `${stubUrl}/v1/messages`, env: asUpstream };

  const loadBefore = loadAverage();
  const ms = (n: number, digits = 2) => `${n.toFixed(digits)} ms`;
  const stamp = () => `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`;

  // ---- 1. the headline: defaults vs bare vs nginx, alternating rounds
  interface Headline {
    hi: WrkResult;
    lo: WrkResult;
    cpu: { total: number; threads: [string, number][] };
    stubCpu: number;
  }
  const headlineTargets = [
    { name: "gateway, defaults (`agent-runner-proxy` with its tenant only)", start: gatewayDefaults },
    { name: "bare Bun `fetch` proxy (bench/bare-proxy.ts)", start: bare },
    { name: "nginx 1.22, 1 worker", start: () => nginx(1) },
  ];
  const rounds: Headline[][] = [];
  const directLo: WrkResult[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round: Headline[] = [];
    directLo.push(await wrk(direct.url, 1, direct.env, DURATION));
    for (const t of headlineTargets) {
      const target = await t.start();
      await wrk(target.url, 8, target.env, "2s"); // warm-up
      const before = cpuByThread(target.child.pid as number);
      const stubBefore = cpuByThread(stubChild.pid as number);
      const hi = await wrk(target.url, HEADLINE_CONNECTIONS, target.env, DURATION);
      const cpu = cpuPerRequest(before, cpuByThread(target.child.pid as number), hi.requests);
      const stubCpu = cpuPerRequest(stubBefore, cpuByThread(stubChild.pid as number), hi.requests).total;
      const lo = await wrk(target.url, 1, target.env, DURATION);
      round.push({ hi, lo, cpu, stubCpu });
      await stopChild(target.child);
    }
    rounds.push(round);
    console.error(`round ${r + 1}/${ROUNDS}: ${round.map((h, i) => `${headlineTargets[i]!.name.split(" (")[0]} ${h.hi.rps.toFixed(0)}`).join(", ")} req/s`);
  }
  const loadAfterHeadline = loadAverage();
  const col = (i: number) => rounds.map((round) => round[i] as Headline);
  const ratio = (a: number, b: number) => rounds.map((round) => (round[a] as Headline).hi.rps / (round[b] as Headline).hi.rps);
  const [gwVsBare, gwVsNginx, bareVsNginx] = [ratio(0, 1), ratio(0, 2), ratio(1, 2)];
  const addedP50 = (i: number) => median(col(i).map((h) => h.lo.p50)) - median(directLo.map((d) => d.p50));
  const headline = [
    `### The headline: the gateway as shipped, against a bare Bun proxy and nginx`,
    "",
    `Measured ${stamp()} on ${cpus()[0]?.model ?? "?"} (${cpus().length} vCPU, ${availableParallelism()} usable; load average ${loadBefore} before, ${loadAfterHeadline} after); wrk 2 threads, ${DURATION} per figure, ${ROUNDS} rounds with the three targets in turn; wrk, the stub and the target share the cores. The gateway's defaults here: ${defaultWorkerCount(availableParallelism())} worker(s), state \`sqlite::memory:\` for one worker (a temporary SQLite file for several), userInfo lookups on.`,
    "",
    `| target | req/s (${HEADLINE_CONNECTIONS} conn), median | each round | p50 / p99 (${HEADLINE_CONNECTIONS} conn) | p50 (1 conn) | CPU µs per request: target (by thread) | stub | wrk |`,
    "|---|---:|---|---:|---:|---|---:|---:|",
    ...headlineTargets.map((t, i) => {
      const c = col(i);
      const mid = c.find((h) => h.hi.rps === median(c.map((x) => x.hi.rps))) ?? (c[0] as Headline);
      return `| ${t.name} | **${median(c.map((h) => h.hi.rps)).toFixed(0)}** | ${c.map((h) => h.hi.rps.toFixed(0)).join(", ")} | ${ms(median(c.map((h) => h.hi.p50)))} / ${ms(median(c.map((h) => h.hi.p99)))} | ${ms(median(c.map((h) => h.lo.p50)), 3)} | ${describeCpu(mid.cpu)} | ${median(c.map((h) => h.stubCpu)).toFixed(0)} | ${median(c.map((h) => h.hi.wrkCpuUs)).toFixed(0)} |`;
    }),
    `| stub upstream, directly (1 conn) | | | | ${ms(median(directLo.map((d) => d.p50)), 3)} | | | |`,
    "",
    `- **Gateway / bare Bun proxy: ${median(gwVsBare).toFixed(2)}×** (median of the rounds: ${gwVsBare.map((x) => x.toFixed(2)).join(", ")}); goal ≥ 0.80×: **${median(gwVsBare) >= 0.8 ? "met" : "not met"}**.`,
    `- **Added latency p50 at 1 connection** (over the stub directly): gateway **${ms(addedP50(0), 3)}**, bare proxy ${ms(addedP50(1), 3)}, nginx ${ms(addedP50(2), 3)}; goal < 1 ms: **${addedP50(0) < 1 ? "met" : "not met"}**.`,
    `- Gateway / nginx: ${median(gwVsNginx).toFixed(2)}× (${gwVsNginx.map((x) => x.toFixed(2)).join(", ")}); bare Bun proxy / nginx: ${median(bareVsNginx).toFixed(2)}×.`,
    `- Errors: ${headlineTargets.map((t, i) => `${t.name.split(" (")[0]} ${[...new Set(col(i).flatMap((h) => [h.hi.errors, h.lo.errors]))].join("; ")}`).join("; ")}.`,
  ].join("\n");
  console.log(headline);
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  if (HEADLINE_ONLY) {
    writeFileSync(join(ROOT, "bench", "results", "proxy-headline.md"), headline + "\n");
  } else {
    // ---- 2. the rest, one run each
    interface Row {
      name: string;
      hi: WrkResult;
      mid: WrkResult;
      lo: WrkResult;
    }
    const measure = async (name: string, t: { url: string; env: Record<string, string> }): Promise<Row> => {
      await wrk(t.url, 8, t.env, DURATION);
      return { name, hi: await wrk(t.url, 64, t.env, DURATION), mid: await wrk(t.url, 16, t.env, DURATION), lo: await wrk(t.url, 1, t.env, DURATION) };
    };
    const rows: Row[] = [];
    rows.push(await measure("stub upstream, direct", direct));
    let target = await gateway(1, "sqlite::memory:");
    rows.push(await measure("gateway, 1 process (state in memory)", target));
    await stopChild(target.child);
    target = await nginx(1);
    rows.push(await measure("nginx, 1 worker", target));
    await stopChild(target.child);
    const workersTarget = await gateway(WORKERS, `sqlite:${join(dir, "state.db")}`);
    rows.push(await measure(`gateway, --workers ${WORKERS} (shared SQLite state)`, workersTarget));
    target = await nginx(WORKERS);
    // the N-worker gateway stays up (idle) for the stream runs below
    rows.push(await measure(`nginx, ${WORKERS} workers`, target));
    await stopChild(target.child);
    target = await experiment("fetch");
    rows.push(await measure("experiment: 10-line fetch pass-through, 1 process, no auth", target));
    await stopChild(target.child);
    target = await experiment("relay");
    rows.push(await measure("experiment: Bun.connect keep-alive relay, 1 process, no auth", target));
    await stopChild(target.child);

    const ttfeDirect = await timeToFirstEvent(direct.url, { "x-api-key": UPSTREAM_KEY }, 300);
    const ttfeProxy = await timeToFirstEvent(workersTarget.url, { authorization: `Bearer ${token}` }, 300);
    await fetch(`${stubUrl}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 500, events: 6 }) });
    const streams = await concurrentStreams(workersTarget.url, token, 1000);
    await fetch(`${stubUrl}/_stub/reset`, { method: "POST" });
    await stopChild(workersTarget.child);

    // what the state store costs: the same gateway by --state, shorter runs
    const redis = await startTestRedis();
    const byState: { name: string; hi: WrkResult; mid: WrkResult }[] = [];
    const STATE_DURATION = process.env.BENCH_STATE_DURATION ?? "4s";
    try {
      const variants: [string, number, string][] = [
        ["1 process, `sqlite::memory:`", 1, "sqlite::memory:"],
        ["1 process, SQLite file (WAL, writer thread)", 1, `sqlite:${join(dir, "state-1.db")}`],
        ["1 process, Redis (local redis-server)", 1, redis.url],
        [`${WORKERS} workers, one SQLite file`, WORKERS, `sqlite:${join(dir, "state-n.db")}`],
        [`${WORKERS} workers, Redis`, WORKERS, redis.url],
      ];
      for (const [name, workers, state] of variants) {
        const t = await gateway(workers, state);
        await wrk(t.url, 8, t.env, STATE_DURATION);
        byState.push({ name, hi: await wrk(t.url, 64, t.env, STATE_DURATION), mid: await wrk(t.url, 16, t.env, STATE_DURATION) });
        await stopChild(t.child);
      }
    } finally {
      await redis.dispose();
    }

    const [d, p1, n1, pN, nN] = rows as [Row, Row, Row, Row, Row];
    const errorsOf = (...results: WrkResult[]) => results.map((r) => r.errors).filter((e) => e !== "none").join("; ") || "none";
    const report = [
      headline,
      "",
      `### Every target, one run each`,
      "",
      `Measured ${stamp()}, load average before the headline ${loadBefore}, now ${loadAverage()}; wrk (2 threads), ${DURATION} per figure.`,
      "",
      "| target | req/s (64 conn) | p50 / p99 (64 conn) | p50 / p99 (16 conn) | p50 / p99 (1 conn) | errors |",
      "|---|---:|---:|---:|---:|---|",
      ...rows.map(({ name, hi, mid, lo }) => `| ${name} | ${hi.rps.toFixed(0)} | ${ms(hi.p50)} / ${ms(hi.p99)} | ${ms(mid.p50)} / ${ms(mid.p99)} | ${ms(lo.p50, 3)} / ${ms(lo.p99, 3)} | ${errorsOf(hi, mid, lo)} |`),
      "",
      `Throughput vs nginx with the same number of workers: 1 vs 1 **${(p1.hi.rps / n1.hi.rps).toFixed(2)}×**, ${WORKERS} vs ${WORKERS} **${(pN.hi.rps / nN.hi.rps).toFixed(2)}×**.`,
      `Added latency p50 (gateway - direct): at 16 connections ${ms(p1.mid.p50 - d.mid.p50, 3)} (1 process), ${ms(pN.mid.p50 - d.mid.p50, 3)} (${WORKERS} workers); at 1 connection ${ms(p1.lo.p50 - d.lo.p50, 3)} / ${ms(pN.lo.p50 - d.lo.p50, 3)}.`,
      "",
      `Time to first SSE event (300 sequential streamed requests, ${WORKERS}-worker gateway): direct p50 ${pct(ttfeDirect, 50).toFixed(2)} ms / p99 ${pct(ttfeDirect, 99).toFixed(2)} ms; through the gateway p50 ${pct(ttfeProxy, 50).toFixed(2)} ms / p99 ${pct(ttfeProxy, 99).toFixed(2)} ms.`,
      "",
      `1,000 concurrent streams through the ${WORKERS}-worker gateway (each 3 s long): ${streams.ok} completed, ${streams.failed} failed, in ${streams.seconds.toFixed(1)} s${streams.errors.length ? ` (${streams.errors.join("; ")})` : ""}.`,
      "",
      `The gateway by \`--state\` (same run, wrk ${STATE_DURATION} per figure; no budget or limit configured):`,
      "",
      "| gateway | req/s (64 conn) | p50 / p99 (64 conn) | req/s (16 conn) | p50 / p99 (16 conn) | errors |",
      "|---|---:|---:|---:|---:|---|",
      ...byState.map(({ name, hi, mid }) => `| ${name} | ${hi.rps.toFixed(0)} | ${ms(hi.p50)} / ${ms(hi.p99)} | ${mid.rps.toFixed(0)} | ${ms(mid.p50)} / ${ms(mid.p99)} | ${errorsOf(hi, mid)} |`),
    ].join("\n");
    console.log(report.slice(headline.length));
    writeFileSync(join(ROOT, "bench", "results", "proxy.md"), report + "\n");
  }
} finally {
  await Promise.all(children.map(stopChild));
  await tenant.stop();
}
