/**
 * What the upstream pool costs the gateway when the first upstream is healthy (issue 19), as an
 * A/B in one tree and one run: the same gateway build (bench/pool-gateway-server.ts) three ways,
 * all up at once in front of the same stub, loaded one at a time in interleaved rounds (each
 * round a new order), wrk at $CONNECTIONS (default 50) connections for $DURATION (default 3s, in
 * slices of $SLICE_SECONDS, default 1, the arms taking turns):
 *   direct  the pool replaced by a pass-through (the one upstream's send, the client's signal)
 *   again   the same as direct in a second process: the A/A control (what two processes of the
 *           same code differ by here, the floor under any difference below)
 *   one     the tenant's one upstream: a pool of one (the shipped path)
 *   two     a failover pool of two, the healthy stub first
 * and the bare Bun proxy (bench/bare-proxy.ts) as the reference of the run. Per round: requests
 * per second and each gateway's CPU time per request (/proc, all threads: steadier than
 * throughput on a shared machine); then the medians and the pool's cost per round, one and two
 * against the mean of the two bypassed processes (half the variance of one), again against direct.
 * Each round starts every gateway arm as a new process (warmed up before it is measured): two
 * processes of the same code differ here by up to ~10 µs a request for as long as they live (heap
 * layout, JIT, which core), so arms kept for the whole run carry one draw of that into every
 * round; new processes make it noise the medians average out. FRESH=0 keeps them for the run.
 * Usage: bun bench/pool-gateway.ts [rounds, default 12; 30 for a tighter median, ~12 min]; writes bench/results/pool-gateway.md. More, shorter
 * rounds put each arm nearer in time to the others: on a shared host whose speed drifts by tens of
 * per cent within minutes, that is what keeps the per-round ratios steady.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { startForge } from "../test/support/forge.ts";
import { randomPort } from "../test/support/ports.ts";
import { BUN, cpuByThread, cpuPerRequest, firstLine, loadAverage, median, ROOT, stopChild, waitFor, wrk } from "./support.ts";

const ROUNDS = Number(process.argv[2] ?? 12);
/** Each arm's time per round, in slices of SLICE_SECONDS the arms take in turn. */
const DURATION = process.env.DURATION ?? "3s";
const SLICE_SECONDS = Number(process.env.SLICE_SECONDS ?? 1);
const SLICES = Math.max(1, Math.round(Number.parseFloat(DURATION) / SLICE_SECONDS));
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const FRESH = process.env.FRESH !== "0";
const KEY = "sk-ant-bench-pool";
const children: ChildProcess[] = [];
const start = async (script: string, env: Record<string, string>) => {
  const child = spawn(BUN, [join(ROOT, "bench", script)], { env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "512", ...env }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return { url: (await firstLine(child)).trim(), child };
};

type Arm = "direct" | "again" | "one" | "two" | "bare";
const ARMS: Arm[] = ["direct", "again", "one", "two", "bare"];
const MODES: Record<Exclude<Arm, "bare">, string> = { direct: "direct", again: "direct", one: "one", two: "two" };
const forge = await startForge();
try {
  const token = await forge.sign({ email: "alice@example.com" });
  const stub = await start("stub-server.ts", { STUB_API_KEY: KEY });
  const spare = await start("stub-server.ts", { STUB_API_KEY: KEY });
  const base = { BENCH_ISSUER: forge.issuer, BENCH_STUB: stub.url, BENCH_SPARE: spare.url, BENCH_KEY: KEY };
  const gateway = (mode: string) => start("pool-gateway-server.ts", { ...base, MODE: mode, BENCH_PORT: String(randomPort()) });
  const barePort = randomPort();
  const bareChild = spawn(BUN, [join(ROOT, "bench", "bare-proxy.ts")], { stdio: "ignore", env: { ...process.env, BARE_PORT: String(barePort), BARE_UPSTREAM: stub.url } });
  children.push(bareChild);
  await waitFor(`http://127.0.0.1:${barePort}/healthz`);
  const targets: Record<Arm, { url: string; child: ChildProcess; env: Record<string, string> }> = {
    direct: { ...(await gateway(MODES.direct)), env: { BENCH_TOKEN: token } },
    again: { ...(await gateway(MODES.again)), env: { BENCH_TOKEN: token } },
    one: { ...(await gateway(MODES.one)), env: { BENCH_TOKEN: token } },
    two: { ...(await gateway(MODES.two)), env: { BENCH_TOKEN: token } },
    bare: { url: `http://127.0.0.1:${barePort}`, child: bareChild, env: { BENCH_UPSTREAM_KEY: KEY } },
  };
  const target = (arm: Arm) => `${targets[arm].url}${arm === "bare" ? "" : "/anthropic"}/v1/messages`;
  /** A new process for a gateway arm, warmed up like the first. */
  const restart = async (arm: Exclude<Arm, "bare">) => {
    await stopChild(targets[arm].child);
    children.splice(children.indexOf(targets[arm].child), 1);
    targets[arm] = { ...(await gateway(MODES[arm])), env: targets[arm].env };
    await wrk(target(arm), 8, targets[arm].env, "2s");
  };
  const runs: Record<Arm, { rps: number; cpu: number }[]> = { direct: [], again: [], one: [], two: [], bare: [] };
  const loadBefore = loadAverage();
  for (const arm of ARMS) await wrk(target(arm), 8, targets[arm].env, "2s"); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    if (FRESH && round > 0) for (const arm of ["direct", "again", "one", "two"] as const) await restart(arm);
    const order = ARMS.map((_, k) => ARMS[(round + k) % ARMS.length] as Arm);
    if (round % 2 === 1) order.reverse(); // each arm before and after each other arm
    // each arm's time in slices, the arms taking turns: a drift of the host's speed within the
    // round falls on every arm alike instead of on whichever ran during it
    const sum = Object.fromEntries(ARMS.map((a) => [a, { requests: 0, seconds: 0, cpuUs: 0 }])) as Record<Arm, { requests: number; seconds: number; cpuUs: number }>;
    for (let slice = 0; slice < SLICES; slice++) {
      for (const arm of slice % 2 ? [...order].reverse() : order) {
        const pid = targets[arm].child.pid as number;
        const before = cpuByThread(pid);
        const r = await wrk(target(arm), CONNECTIONS, targets[arm].env, `${SLICE_SECONDS}s`);
        if (r.errors !== "none") throw new Error(`${arm}: ${r.errors}`);
        sum[arm].requests += r.requests;
        sum[arm].seconds += r.requests / r.rps;
        sum[arm].cpuUs += cpuPerRequest(before, cpuByThread(pid), r.requests).total * r.requests;
      }
    }
    for (const arm of ARMS) runs[arm].push({ rps: sum[arm].requests / sum[arm].seconds, cpu: sum[arm].cpuUs / sum[arm].requests });
    console.error(`round ${round + 1}/${ROUNDS}: ${ARMS.map((a) => `${a} ${runs[a][round]!.rps.toFixed(0)} req/s ${runs[a][round]!.cpu.toFixed(1)} µs`).join(", ")}`);
  }
  const rps = (a: Arm) => median(runs[a].map((r) => r.rps));
  const cpu = (a: Arm) => median(runs[a].map((r) => r.cpu));
  // per round: the throughput ratio to the pool bypassed, measured seconds apart. The reference is
  // both bypassed processes' mean (half the variance of one); the A/A control is one against the other.
  const bypassed = (i: number, of: "rps" | "cpu") => ((runs.direct[i]?.[of] ?? 0) + (runs.again[i]?.[of] ?? 0)) / 2;
  const ratio = (a: Arm) => median(runs[a].map((r, i) => r.rps / (a === "again" ? (runs.direct[i]?.rps ?? 0) : bypassed(i, "rps"))));
  // CPU per request: the median of the per-round differences (µs), against the same reference
  const extraCpu = (a: Arm) => median(runs[a].map((r, i) => r.cpu - (a === "again" ? (runs.direct[i]?.cpu ?? 0) : bypassed(i, "cpu"))));
  const cpuRef = median(runs.direct.map((_, i) => bypassed(i, "cpu")));
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
  const label: Record<Arm, string> = {
    direct: "gateway, pool bypassed (the one upstream's send)",
    again: "the same, a second process (A/A control)",
    one: "gateway, pool of one (as shipped)",
    two: "gateway, failover pool of two, first healthy",
    bare: "bare Bun `fetch` proxy (reference)",
  };
  const report = [
    `### The upstream pool's cost, first upstream healthy (\`bun bench/pool-gateway.ts\`)`,
    "",
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpus()[0]?.model ?? "?"} (${cpus().length} vCPU; load average ${loadBefore} before, ${loadAverage()} after); ${ROUNDS} interleaved rounds${FRESH ? " (each gateway arm a new process every round)" : ""}, wrk ${CONNECTIONS} connections, ${DURATION} per arm and round in slices of ${SLICE_SECONDS} s taking turns; the same build, stub and token for every gateway arm.`,
    "",
    "| arm | req/s, median | each round | CPU µs per request, median (all threads) | req/s vs pool bypassed (both processes' mean; the A/A: vs the first), median of the rounds |",
    "|---|---:|---|---:|---:|",
    ...ARMS.map((a) => `| ${label[a]} | **${rps(a).toFixed(0)}** | ${runs[a].map((r) => r.rps.toFixed(0)).join(", ")} | ${cpu(a).toFixed(1)} | ${a === "direct" ? "-" : ratio(a).toFixed(3)} |`),
    "",
    `- A/A control (one bypassed process against the other): ${pct(1 - ratio("again"))} of throughput, CPU per request ${signed(extraCpu("again"))} µs: differences this small are noise.`,
    `- **Pool of one vs bypassed: ${pct(1 - ratio("one"))} of throughput** (median of the per-round ratios to both bypassed processes' mean), CPU per request ${signed(extraCpu("one"))} µs (${pct(extraCpu("one") / cpuRef)}); goal < 3 %: **${1 - ratio("one") < 0.03 ? "met" : "not met"}**.`,
    `- **Failover pool of two (first healthy) vs bypassed: ${pct(1 - ratio("two"))} of throughput**, CPU per request ${signed(extraCpu("two"))} µs (${pct(extraCpu("two") / cpuRef)}).`,
  ].join("\n");
  console.log(report);
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "pool-gateway.md"), report + "\n");
} finally {
  await Promise.all(children.map(stopChild));
  forge.stop();
}
