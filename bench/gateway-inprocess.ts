/**
 * The gateway's JavaScript path alone, for profiling one change at a time: `startProxy` in this
 * process with a canned upstream answer (no upstream socket), requests handed to
 * `server.fetch` (no client socket), 50 at a time. Prints the process's CPU time per request
 * (user + system, all threads) of $REPS rounds of 20,000 requests after one warm round, on stderr;
 * the request log lines go to stdout (send them to /dev/null). The harness's own Request and
 * Response objects are included (~8 µs): compare builds, not against other benchmarks.
 *   bun bench/gateway-inprocess.ts > /dev/null
 *   ROOT=/other/checkout bun bench/gateway-inprocess.ts > /dev/null     another tree's gateway
 *   bun --cpu-prof --cpu-prof-dir=/tmp/prof bench/gateway-inprocess.ts > /dev/null
 *   POOL=bypassed bun bench/gateway-inprocess.ts > /dev/null     the upstream pool bypassed (bench/direct-pool.ts)
 *   POOL=both bun bench/gateway-inprocess.ts > /dev/null         both in one process, rounds alternating
 *       (the machine's drift then falls on both alike: the pool's cost to a tenth of a µs)
 */
import { join } from "node:path";
import { median } from "./support.ts";

const ROOT = process.env.ROOT ?? join(import.meta.dir, "..");
const { startForge } = (await import(join(ROOT, "test/support/forge.ts"))) as typeof import("../test/support/forge.ts");
const { parseTenant } = (await import(join(ROOT, "src/proxy/config.ts"))) as typeof import("../src/proxy/config.ts");
const { startProxy } = (await import(join(ROOT, "src/proxy/http/server.ts"))) as typeof import("../src/proxy/http/server.ts");

const REQUESTS = 20_000;
const forge = await startForge();
const token = await forge.sign({ email: "alice@example.com", origin_jti: crypto.randomUUID() });
const answer = JSON.stringify({
  id: "msg_stub_1", type: "message", role: "assistant", model: "claude-bench", content: [{ type: "text", text: "Hello from the local agent-runner tenant." }], stop_reason: "end_turn", stop_sequence: null,
  usage: { input_tokens: 21, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 }, output_tokens: 14, service_tier: "standard" },
});
const upstream = (async () => new Response(answer, { headers: { "content-type": "application/json", "request-id": `req_stub_${Math.random().toString(36).slice(2)}` } })) as unknown as typeof fetch;
const tenant = parseTenant("default", { issuer: forge.issuer, clientIds: ["agent-runner-cli"], upstream: "http://127.0.0.1:9", upstreamApiKey: "sk-ant-inprocess" });
const bypassed = async () => {
  const { AnthropicUpstream } = (await import(join(ROOT, "src/proxy/upstreams/anthropic.ts"))) as typeof import("../src/proxy/upstreams/anthropic.ts");
  const { StaticKeySource } = (await import(join(ROOT, "src/proxy/upstreams/key-source.ts"))) as typeof import("../src/proxy/upstreams/key-source.ts");
  const { DirectPool } = await import("./direct-pool.ts");
  return new Map([[tenant.slug, new DirectPool(new AnthropicUpstream({ name: "bypassed", url: "http://127.0.0.1:9", key: new StaticKeySource("sk-ant-inprocess"), fetch: upstream }))]]);
};
type Gateway = ReturnType<typeof startProxy>;
const start = async (bypass: boolean): Promise<Gateway> => {
  const pools = bypass ? { pools: await bypassed() } : {};
  const proxy = startProxy({ config: { tenants: new Map([[tenant.slug, tenant]]), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 100 }, port: 0, hostname: "127.0.0.1", fetch: upstream, ...pools });
  await proxy.ready();
  return proxy;
};
const arms: Array<[string, Gateway]> = [];
if (process.env.POOL !== "bypassed") arms.push(["pool", await start(false)]);
if (process.env.POOL === "bypassed" || process.env.POOL === "both") arms.push(["bypassed", await start(true)]);
const body = '{"model":"claude-bench","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}';

async function run(proxy: Gateway, n: number): Promise<void> {
  const url = `${proxy.url}/anthropic/v1/messages`;
  const headers = { host: new URL(proxy.url).host, "content-type": "application/json", "anthropic-version": "2023-06-01", authorization: `Bearer ${token}`, "x-api-key": token, "content-length": String(body.length) };
  let left = n;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (left-- > 0) {
        const response = await proxy.server.fetch(new Request(url, { method: "POST", headers, body }));
        if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
}

for (const [, proxy] of arms) await run(proxy, REQUESTS);
const rounds = new Map<string, number[]>(arms.map(([name]) => [name, []]));
for (let i = 0; i < Number(process.env.REPS ?? 5); i++) {
  for (const [name, proxy] of i % 2 ? [...arms].reverse() : arms) {
    const before = process.cpuUsage();
    await run(proxy, REQUESTS);
    const used = process.cpuUsage(before);
    rounds.get(name)?.push((used.user + used.system) / REQUESTS);
  }
}
for (const [name, xs] of rounds) console.error(`${ROOT} ${arms.length > 1 ? name : ""}: ${xs.map((x) => x.toFixed(1)).join(" ")} µs per request (min ${Math.min(...xs).toFixed(1)})`);
if (arms.length > 1) {
  const [a, b] = [rounds.get("pool") ?? [], rounds.get("bypassed") ?? []];
  const diffs = a.map((x, i) => x - (b[i] ?? x));
  console.error(`pool − bypassed, per round: ${diffs.map((x) => x.toFixed(2)).join(" ")} µs (median ${median(diffs).toFixed(2)})`);
}
for (const [, proxy] of arms) await proxy.shutdown(100);
forge.stop();
process.exit(0);
