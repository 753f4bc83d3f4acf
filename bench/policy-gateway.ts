/**
 * What the tenant policy costs the gateway (issue 18): the same 1-process proxy, with and without
 * `--policy` (50 groups, each listing model patterns; 1,000 people with 1 to 3 groups each, about
 * 660 distinct group sets), in the same run, against the same stub upstream, with the same 1,000
 * forge-signed tokens (wrk sends each request with the next person's token, bench/policy-post.lua).
 * Every request passes the model check, so both proxies forward everything. Budgets and limits are
 * left out on purpose: with them the proxy reserves and admits in the state store, a cost
 * bench/proxy.ts measures by `--state`; this measures the policy's own work (resolution, model check).
 *
 * The machine is shared: rounds alternate (A B, B A, ...), each proxy's CPU time per request is
 * read from /proc, and the medians are reported. Env: ROUNDS (default 6), DURATION (default 5s),
 * CONNECTIONS (default 32). Prints a Markdown table and writes bench/results/policy-gateway.md.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startForge } from "../test/support/forge.ts";
import { parsePolicyText } from "../src/shared/policy/parse.ts";
import { compilePolicy } from "../src/shared/policy/resolve.ts";
import { checkModel } from "../src/proxy/policy/request-rules.ts";
import { policyBudgets, policyLimits } from "../src/proxy/policy/enforcement.ts";
import { portBlock } from "../test/support/ports.ts";
import { BUN, firstLine, median, ROOT, waitFor } from "./support.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 6);
const DURATION = process.env.DURATION ?? "5s";
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
const KEY = "sk-ant-bench-upstream";
const GROUPS = 50;
const PEOPLE = 1000;
const CLOCK_TICKS = 100; // USER_HZ on Linux
const children: ChildProcess[] = [];

/** A deterministic pseudo-random sequence, so every run measures the same people. */
function lcg(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

function policyYaml(): string {
  const lines = ["groups:"];
  for (let g = 0; g < GROUPS; g++) {
    const models = [`"claude-team${g}-*"`, `"claude-${g % 3 === 0 ? "opus" : g % 3 === 1 ? "sonnet" : "haiku"}-*"`, ...(g % 5 === 0 ? [`"claude-bench"`] : [`"claude-b*"`])];
    lines.push(`  team-${g}:`, `    models: [${models.join(", ")}]`);
  }
  lines.push("default:", `  models: ["claude-haiku-*"]`);
  return lines.join("\n") + "\n";
}

/** User plus system CPU time of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function wrk(url: string, tokensFile: string) {
  const r = spawnSync("wrk", ["-t", "2", "-c", String(CONNECTIONS), "-d", DURATION, "--latency", "-s", join(ROOT, "bench", "policy-post.lua"), url], { env: { ...process.env, BENCH_TOKENS_FILE: tokensFile }, encoding: "utf8" });
  const out = r.stdout;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), requests: Number(/(\d+) requests in/.exec(out)?.[1]), p50: /^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? "?", non2xx };
}

/**
 * The policy step alone, in this process, as the request path runs it per request (the access of
 * the person's group set, the model check, their budgets and limits), over the same 1,000 people
 * with the same groups arrays the verified-token cache would hand over: ns per request.
 */
function policyStepNs(groupsOf: string[][]): number {
  const compiled = compilePolicy(parsePolicyText(policyYaml(), "bench.yaml").policy);
  const people = groupsOf.map((groups, i) => ({ sub: `sub-${i}`, groups }));
  let sink = 0;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const p = people[i % people.length]!;
      const access = compiled.access(p.groups);
      if (checkModel("claude-bench", access)) sink++;
      if (access.budgets.length > 0) sink += policyBudgets("t", p, access).length;
      if (access.limits.length > 0) sink += policyLimits("t", p, access).length;
    }
  };
  run(200_000); // warm-up: every group set resolved once, the JIT settled
  const n = 2_000_000;
  const t0 = Bun.nanoseconds();
  run(n);
  const ns = (Bun.nanoseconds() - t0) / n;
  if (sink !== 0) throw new Error("a model check refused in the benchmark");
  return ns;
}

const dir = mkdtempSync(join(tmpdir(), "bench-policy-gw-"));
const forge = await startForge();
try {
  writeFileSync(join(dir, "key"), KEY, { mode: 0o600 });
  writeFileSync(join(dir, "policy.yaml"), policyYaml());
  const random = lcg(18);
  const tokens: string[] = [];
  const groupsOf: string[][] = [];
  for (let p = 0; p < PEOPLE; p++) {
    const count = 1 + Math.floor(random() * 3);
    const groups = [...new Set(Array.from({ length: count }, () => `team-${Math.floor(random() * GROUPS)}`))];
    groupsOf.push(groups);
    tokens.push(await forge.sign({ sub: `sub-${p}`, username: `person${p}`, "cognito:groups": groups, origin_jti: `s-${p}` }));
  }
  writeFileSync(join(dir, "tokens"), tokens.join("\n") + "\n");
  const stub = spawn(BUN, [join(ROOT, "bench", "stub-server.ts")], { env: { ...process.env, STUB_API_KEY: KEY }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(stub);
  const stubUrl = await firstLine(stub);

  const [portPlain, portPolicy] = portBlock(2) as [number, number];
  const start = (port: number, policy: boolean) => {
    const args = [join(ROOT, "src", "proxy", "main.ts"), "--workers", "1", "--issuer", forge.issuer, "--client-id", "agent-runner-cli", "--upstream", stubUrl, "--upstream-key-file", join(dir, "key"), "--port", String(port), "--host", "127.0.0.1", "--metrics-port", "off", "--state", "sqlite::memory:", "--no-userinfo", ...(policy ? ["--policy", join(dir, "policy.yaml")] : [])];
    // AGENT_RUNNER_PROXY_WORKER: serve in this very process (its pid is the one measured)
    const child = spawn(BUN, args, { stdio: ["pipe", "ignore", "inherit"], env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "512", AGENT_RUNNER_PROXY_WORKER: "0" } });
    children.push(child);
    return { child, url: `http://127.0.0.1:${port}`, target: `http://127.0.0.1:${port}/anthropic/v1/v1/messages` };
  };
  const variants = { "no policy": start(portPlain, false), "policy: 50 groups, 1,000 people": start(portPolicy, true) };
  for (const v of Object.values(variants)) {
    await waitFor(`${v.url}/readyz`);
    // every person once (fills the verified-token cache), then a warm-up
    for (const t of tokens) {
      const r = await fetch(v.target, { method: "POST", headers: { authorization: `Bearer ${t}`, "content-type": "application/json" }, body: '{"model":"claude-bench","max_tokens":8,"messages":[]}' });
      if (r.status !== 200) throw new Error(`${v.url} answered ${r.status}: ${await r.text()}`);
    }
    wrk(v.target, join(dir, "tokens"));
  }
  const names = Object.keys(variants) as (keyof typeof variants)[];
  const results = new Map(names.map((n) => [n, { rps: [] as number[], cpuUs: [] as number[], p50: [] as string[] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 ? [...names].reverse() : names) {
      const v = variants[name];
      const before = cpuSeconds(v.child.pid!);
      const r = wrk(v.target, join(dir, "tokens"));
      const cpu = cpuSeconds(v.child.pid!) - before;
      if (r.non2xx > 0) throw new Error(`${name}: ${r.non2xx} answers were not 2xx`);
      const out = results.get(name)!;
      out.rps.push(r.rps);
      out.cpuUs.push((cpu / r.requests) * 1e6);
      out.p50.push(r.p50);
      console.error(`round ${round + 1} ${name}: ${r.rps.toFixed(0)} req/s, ${((cpu / r.requests) * 1e6).toFixed(1)} µs CPU/request, p50 ${r.p50}`);
    }
  }
  const plain = results.get(names[0]!)!;
  const withPolicy = results.get(names[1]!)!;
  const stepNs = policyStepNs(groupsOf);
  const rpsCost = (1 - median(withPolicy.rps) / median(plain.rps)) * 100;
  const cpuCost = (median(withPolicy.cpuUs) / median(plain.cpuUs) - 1) * 100;
  const report = [
    `# The tenant policy's cost at the gateway (bench/policy-gateway.ts)`,
    "",
    `${new Date().toISOString().slice(0, 10)}, ${ROUNDS} alternating rounds of ${DURATION} at ${CONNECTIONS} connections (wrk, 2 threads), the 1-process proxy (\`--workers 1\`, \`--state sqlite::memory:\`), the stub upstream; 1,000 people, each request with the next person's token. Shared 2-core machine: other work ran at the same time, so medians.`,
    "",
    "| proxy | requests/s (median) | rounds | CPU per request (median) |",
    "|---|---|---|---|",
    ...names.map((n) => {
      const r = results.get(n)!;
      return `| ${n} | ${median(r.rps).toFixed(0)} | ${r.rps.map((x) => x.toFixed(0)).join(", ")} | ${median(r.cpuUs).toFixed(1)} µs |`;
    }),
    "",
    `Throughput with the policy: ${rpsCost >= 0 ? `${rpsCost.toFixed(1)} % lower` : `${(-rpsCost).toFixed(1)} % higher (noise)`}; CPU per request: ${cpuCost >= 0 ? "+" : ""}${cpuCost.toFixed(1)} %. The issue's bar: under 5 %.`,
    "",
    `The policy step alone (the person's access from the group-set cache, the model check, their budgets and limits; measured in this process over the same 1,000 people, 2,000,000 requests): **${stepNs.toFixed(0)} ns per request**, ${((stepNs / 1000 / median(plain.cpuUs)) * 100).toFixed(2)} % of the ${median(plain.cpuUs).toFixed(0)} µs of CPU a request costs the proxy without a policy. Between whole-proxy rounds the machine's noise is larger than that.`,
    "",
  ].join("\n");
  console.log(report);
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "results", "policy-gateway.md"), report);
} finally {
  for (const c of children) c.kill("SIGTERM");
  forge.stop();
  rmSync(dir, { recursive: true, force: true });
}
