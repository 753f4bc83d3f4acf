/**
 * The gateway (startProxy, one process) in front of the stub, for bench/pool-gateway.ts. Prints its URL.
 *   MODE=one     the tenant's one upstream (`upstream` + key): a pool of one, as shipped
 *   MODE=two     a failover pool of two Anthropic members, the stub first (healthy) and a spare
 *   MODE=direct  the same tenant and upstream as `one`, with the pool replaced by a pass-through
 *                (bench/direct-pool.ts): the one member's `send` with the client's signal, as the
 *                gateway forwarded before the pool (one fetch, no order, breaker, head deadline,
 *                attempt records or failover). Only here, never in the gateway: the request path,
 *                the body read whole, the upstream adaptor and its key are the same in all three.
 * Request lines are built by the exchange but not written (log: a no-op), in every mode alike.
 */
import { parseTenant, type ProxyConfig } from "../src/proxy/config.ts";
import { poolDeps, startProxy } from "../src/proxy/http/server.ts";
import { AnthropicUpstream } from "../src/proxy/upstreams/anthropic.ts";
import { buildPoolNow } from "../src/proxy/upstreams/build.ts";
import { StaticKeySource } from "../src/proxy/upstreams/key-source.ts";
import type { Pool } from "../src/proxy/upstreams/pool.ts";
import { DirectPool } from "./direct-pool.ts";

const env = process.env;
const mode = env.MODE ?? "one";
const upstreams = mode === "two"
  ? { upstreams: [env.BENCH_STUB, env.BENCH_SPARE].map((url, i) => ({ name: `anthropic-${i}`, type: "anthropic", url, apiKeyEnv: "BENCH_KEY" })) }
  : { upstream: env.BENCH_STUB, upstreamApiKeyEnv: "BENCH_KEY" };
const tenant = parseTenant("bench", { issuer: env.BENCH_ISSUER, clientIds: ["agent-runner-cli"], ...upstreams });
const config: ProxyConfig = { tenants: new Map([[tenant.slug, tenant]]), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 1000 };
let pool: Pool;
if (mode === "direct") {
  const member = tenant.pool.upstreams[0];
  if (member?.type !== "anthropic") throw new Error("MODE=direct needs one Anthropic upstream");
  pool = new DirectPool(new AnthropicUpstream({ name: member.name, url: member.url, key: new StaticKeySource(env.BENCH_KEY as string) }));
} else {
  pool = buildPoolNow(tenant.pool, poolDeps(tenant.slug, {}));
}
const proxy = startProxy({ config, port: Number(env.BENCH_PORT), hostname: "127.0.0.1", log: () => {}, pools: new Map([[tenant.slug, pool]]) });
await proxy.ready();
console.log(proxy.url);
process.on("SIGTERM", () => void proxy.shutdown(200).then(() => process.exit(0)));
