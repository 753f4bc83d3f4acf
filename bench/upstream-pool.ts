/**
 * What the upstream pool costs on the path of a request when the first upstream is healthy:
 * the same small Messages requests to the stub upstream, sent (a) by a bare `fetch` with the key,
 * as forward.ts sends today, and (b) through `Pool.send` (a pool of two: the healthy stub first,
 * another behind it), in alternating rounds, 32 requests in flight. Prints requests per second
 * of each and the difference. Usage: bun bench/upstream-pool.ts [seconds per round, default 3]
 */
import { buildPool } from "../src/proxy/upstreams/build.ts";
import { parsePoolConfig } from "../src/proxy/upstreams/config.ts";
import type { UpstreamRequest } from "../src/proxy/upstreams/types.ts";
import { startStubUpstream } from "../src/tenant/stub-upstream.ts";

const SECONDS = Number(process.argv[2] ?? 3);
const CONCURRENCY = 32;
const ROUNDS = 3;
const stub = startStubUpstream({ apiKey: "sk-ant-bench" });
const spare = startStubUpstream({ apiKey: "sk-ant-bench" });
const pool = await buildPool(
  parsePoolConfig(
    [
      { name: "first", type: "anthropic", url: stub.url, apiKeyEnv: "BENCH_KEY" },
      { name: "spare", type: "anthropic", url: spare.url, apiKeyEnv: "BENCH_KEY" },
    ],
    undefined,
    "bench",
  ),
  { tenant: "bench", log: () => {}, now: Date.now, random: Math.random, newRequestId: () => "req_bench", env: { BENCH_KEY: "sk-ant-bench" } },
);
const body = new TextEncoder().encode(JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }));
const headers = new Headers({ "content-type": "application/json", "anthropic-version": "2023-06-01" });

async function direct(): Promise<number> {
  const h = new Headers(headers);
  h.set("x-api-key", "sk-ant-bench");
  h.set("accept-encoding", "identity");
  const response = await fetch(`${stub.url}/v1/messages`, { method: "POST", headers: h, body, redirect: "manual" });
  await response.arrayBuffer();
  return response.status;
}

async function viaPool(): Promise<number> {
  const request: UpstreamRequest = { route: "messages", method: "POST", path: "/v1/messages", search: "", headers, body, facts: { model: "claude-sonnet-4-5" }, signal: new AbortController().signal };
  const result = await pool.send(request);
  await result.response.arrayBuffer();
  return result.response.status;
}

async function round(send: () => Promise<number>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        if ((await send()) !== 200) throw new Error("a request failed");
        done++;
      }
    }),
  );
  return done / SECONDS;
}

await round(direct); // warm-up: connections, JIT
await round(viaPool);
const results = { direct: [] as number[], pool: [] as number[] };
for (let i = 0; i < ROUNDS; i++) {
  results.direct.push(await round(direct));
  results.pool.push(await round(viaPool));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const [d, p] = [median(results.direct), median(results.pool)];
console.log(`bare fetch: ${results.direct.map((x) => x.toFixed(0)).join(", ")} req/s (median ${d.toFixed(0)})`);
console.log(`Pool.send:  ${results.pool.map((x) => x.toFixed(0)).join(", ")} req/s (median ${p.toFixed(0)})`);
console.log(`pool cost: ${(((d - p) / d) * 100).toFixed(1)} % of throughput (${SECONDS} s rounds, ${CONCURRENCY} in flight, ${ROUNDS} alternating rounds)`);
pool.close();
stub.stop();
spare.stop();
