/**
 * The upstream pool's own cost per request, to a few tens of ns (issue 19): `Pool.send` (a pool of
 * one, as shipped) against the bypass (bench/direct-pool.ts: the one upstream's `send` with the
 * client's signal) in one process, rounds alternating, 50 requests at a time, over the same
 * upstream adaptor with a canned answer (no socket). What it leaves out is the same in both: the
 * request path around the pool, the HTTP server and client. Prints each round's CPU time per
 * request (user + system, all threads, so the collector's work is in it) and the per-round differences.
 *   bun bench/pool-inprocess.ts [rounds, default 10]      writes bench/results/pool-inprocess.md
 * (`bash bench/run.sh pool` runs it before the A/B through the gateway, bench/pool-gateway.ts.)
 */
import { parseTenant } from "../src/proxy/config.ts";
import { poolDeps } from "../src/proxy/http/server.ts";
import { AnthropicUpstream } from "../src/proxy/upstreams/anthropic.ts";
import { buildPoolNow } from "../src/proxy/upstreams/build.ts";
import { StaticKeySource } from "../src/proxy/upstreams/key-source.ts";
import type { Pool } from "../src/proxy/upstreams/pool.ts";
import type { UpstreamRequest } from "../src/proxy/upstreams/types.ts";
import { DirectPool } from "./direct-pool.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { loadAverage, median, ROOT } from "./support.ts";

const ROUNDS = Number(process.argv[2] ?? 10);
const REQUESTS = 100_000;
const KEY = "sk-ant-inprocess";
const answer = JSON.stringify({ id: "msg_1", type: "message", role: "assistant", content: [], usage: { input_tokens: 1, output_tokens: 1 } });
const canned = (async () => new Response(answer, { headers: { "content-type": "application/json" } })) as unknown as typeof fetch;
const tenant = parseTenant("bench", { issuer: "http://127.0.0.1:9/bench", clientIds: ["agent-runner-cli"], upstream: "http://127.0.0.1:9", upstreamApiKey: KEY });
const arms: Array<[string, Pool]> = [
  ["pool", buildPoolNow(tenant.pool, { ...poolDeps(tenant.slug, {}), fetch: canned })],
  ["bypassed", new DirectPool(new AnthropicUpstream({ name: "bypassed", url: "http://127.0.0.1:9", key: new StaticKeySource(KEY), fetch: canned }))],
];
const client = new AbortController(); // the request path's signal, made once (the bypass reads it)
const body = new TextEncoder().encode('{"model":"claude-bench","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}');
const request = (): UpstreamRequest => ({ route: "messages", method: "POST", path: "/v1/messages", search: "", headers: new Headers({ "content-type": "application/json" }), body, facts: { model: "claude-bench", stream: false }, signal: client.signal });

async function run(pool: Pool, n: number): Promise<void> {
  let left = n;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (left-- > 0) {
        const result = await pool.send(request());
        await result.response.arrayBuffer();
      }
    }),
  );
}

for (const [, pool] of arms) await run(pool, REQUESTS); // warm-up
const ns = new Map<string, number[]>(arms.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, pool] of round % 2 ? [...arms].reverse() : arms) {
    const before = process.cpuUsage();
    await run(pool, REQUESTS);
    const used = process.cpuUsage(before);
    ns.get(name)?.push(((used.user + used.system) * 1000) / REQUESTS);
  }
}
const [pool, bypassed] = [ns.get("pool") ?? [], ns.get("bypassed") ?? []];
const diffs = pool.map((x, i) => x - (bypassed[i] ?? x));
const report = [
  "### The upstream pool's own cost, in process (`bun bench/pool-inprocess.ts`)",
  "",
  `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpus()[0]?.model ?? "?"} (${cpus().length} vCPU; load average ${loadAverage()}); ${ROUNDS} rounds of ${REQUESTS} requests per arm, alternating, 50 at a time, a canned upstream answer (no socket); CPU time of all threads per request.`,
  "",
  ...[...ns].map(([name, xs]) => `- ${name === "pool" ? "`Pool.send`, a pool of one" : "the bypass (bench/direct-pool.ts)"}: median **${median(xs).toFixed(0)} ns** (${xs.map((x) => x.toFixed(0)).join(", ")})`),
  `- **the pool's own cost: ${median(diffs).toFixed(0)} ns per request** (median of the per-round differences: ${diffs.map((x) => x.toFixed(0)).join(", ")})`,
].join("\n");
console.log(report);
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "pool-inprocess.md"), report + "\n");
for (const [, p] of arms) p.close();
process.exit(0);
