/**
 * What the upstream pool costs the gateway when the first upstream is healthy: wrk against the
 * gateway as it was before the pool was wired (the reference: REFERENCE, a git revision, default
 * b4826bc, extracted with `git archive` and run from its own bench/pool-gateway-server.ts in
 * MODE=direct) and this tree's gateway, whose every request goes through a pool of two (the
 * healthy stub first), in alternating rounds, same stub, same token. Prints each round's
 * requests per second and the gateway process's CPU time per request (from /proc: steadier than
 * throughput on a machine shared with other work), and the medians.
 * Usage: bun bench/pool-gateway.ts [rounds, default 6] (DURATION per round, default 4s; CONNECTIONS, default 32; REFERENCE)
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startForge } from "../test/support/forge.ts";
import { randomPort } from "../test/support/ports.ts";

const ROOT = join(import.meta.dir, "..");
const ROUNDS = Number(process.argv[2] ?? 6);
const REFERENCE = process.env.REFERENCE ?? "b4826bc";
const DURATION = process.env.DURATION ?? "4s";
const CONNECTIONS = process.env.CONNECTIONS ?? "32";
const KEY = "sk-ant-bench-pool";
const children: ChildProcess[] = [];
const firstLine = (child: ChildProcess) => new Promise<string>((resolve, reject) => {
  createInterface({ input: child.stdout! }).once("line", resolve);
  child.once("exit", (c) => reject(new Error(`exited ${c}`)));
});
const start = (script: string, env: Record<string, string>, root = ROOT) => {
  const child = spawn(process.execPath, [join(root, "bench", script)], { env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "512", ...env }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return firstLine(child).then((url) => ({ url: url.trim(), child }));
};
/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}
function wrk(url: string, token: string, pid: number): { rps: number; cpuUsPerRequest: number } {
  const before = cpuSeconds(pid);
  const r = spawnSync("wrk", ["-t", "2", "-c", CONNECTIONS, "-d", DURATION, "-s", join(ROOT, "bench", "post.lua"), url], { env: { ...process.env, BENCH_TOKEN: token }, encoding: "utf8" });
  const cpu = cpuSeconds(pid) - before;
  if (/Non-2xx or 3xx responses: (\d+)/.test(r.stdout)) throw new Error(`non-2xx answers:\n${r.stdout}`);
  const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]), cpuUsPerRequest: (cpu * 1e6) / requests };
}

/** The reference tree: the gateway before the wiring, with this tree's dependencies. */
const referenceDir = mkdtempSync(join(tmpdir(), "ara-bench-reference-"));
const archive = spawnSync("sh", ["-c", `git -C "${ROOT}" archive "${REFERENCE}" | tar -x -C "${referenceDir}"`], { encoding: "utf8" });
if (archive.status !== 0) throw new Error(`cannot extract the reference ${REFERENCE}: ${archive.stderr}`);
symlinkSync(join(ROOT, "node_modules"), join(referenceDir, "node_modules"));

const forge = await startForge();
try {
  const token = await forge.sign({ email: "alice@example.com" });
  const stub = await start("stub-server.ts", { STUB_API_KEY: KEY });
  const spare = await start("stub-server.ts", { STUB_API_KEY: KEY });
  const base = { BENCH_ISSUER: forge.issuer, BENCH_STUB: stub.url, BENCH_SPARE: spare.url, BENCH_KEY: KEY };
  const gateways = { direct: await start("pool-gateway-server.ts", { ...base, MODE: "direct", BENCH_PORT: String(randomPort()) }, referenceDir), pool: await start("pool-gateway-server.ts", { ...base, MODE: "pool", BENCH_PORT: String(randomPort()) }) };
  const runs: Record<"direct" | "pool", Array<{ rps: number; cpuUsPerRequest: number }>> = { direct: [], pool: [] };
  const target = (mode: "direct" | "pool") => `${gateways[mode].url}/anthropic/v1/messages`;
  for (const mode of ["direct", "pool"] as const) wrk(target(mode), token, gateways[mode].child.pid as number); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of (i % 2 === 0 ? ["direct", "pool"] : ["pool", "direct"]) as Array<"direct" | "pool">) runs[mode].push(wrk(target(mode), token, gateways[mode].child.pid as number));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  for (const mode of ["direct", "pool"] as const) {
    const label = mode === "direct" ? `before the pool (${REFERENCE})` : "through the pool (this tree)";
    console.log(`gateway ${label}: ${runs[mode].map((r) => r.rps.toFixed(0)).join(", ")} req/s (median ${median(runs[mode].map((r) => r.rps)).toFixed(0)}); CPU ${runs[mode].map((r) => r.cpuUsPerRequest.toFixed(1)).join(", ")} µs/request (median ${median(runs[mode].map((r) => r.cpuUsPerRequest)).toFixed(1)})`);
  }
  const [dr, pr] = [median(runs.direct.map((r) => r.rps)), median(runs.pool.map((r) => r.rps))];
  const [dc, pc] = [median(runs.direct.map((r) => r.cpuUsPerRequest)), median(runs.pool.map((r) => r.cpuUsPerRequest))];
  console.log(`pool cost: ${(((dr - pr) / dr) * 100).toFixed(1)} % of throughput, ${(((pc - dc) / pc) * 100).toFixed(1)} % of the gateway's CPU per request (${ROUNDS} alternating rounds of ${DURATION}, ${CONNECTIONS} connections, first upstream healthy)`);
} finally {
  for (const c of children) c.kill("SIGTERM");
  forge.stop();
  rmSync(referenceDir, { recursive: true, force: true });
}
