/**
 * The gateway (startProxy, one process) in front of the stub, for bench/pool-gateway.ts, as it
 * now always runs: every request through the tenant's upstream pool. MODE=pool (default): a pool
 * of two Anthropic members, the stub first (healthy) and a spare; MODE=one: today's shorthand,
 * a pool of one. Prints the URL.
 */
import { parseTenant, type ProxyConfig } from "../src/proxy/config.ts";
import { startProxy } from "../src/proxy/http/server.ts";

const env = process.env;
const upstreams = env.MODE === "one" ? { upstream: env.BENCH_STUB, upstreamApiKeyEnv: "BENCH_KEY" } : {
  upstreams: [env.BENCH_STUB, env.BENCH_SPARE].map((url, i) => ({ name: `anthropic-${i}`, type: "anthropic", url, apiKeyEnv: "BENCH_KEY" })),
};
const tenant = parseTenant("bench", { issuer: env.BENCH_ISSUER, clientIds: ["agent-runner-cli"], ...upstreams });
const config: ProxyConfig = { tenants: new Map([[tenant.slug, tenant]]), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 1000 };
const proxy = startProxy({ config, port: Number(env.BENCH_PORT), hostname: "127.0.0.1", log: () => {} });
await proxy.ready();
console.log(proxy.url);
process.on("SIGTERM", () => void proxy.shutdown(200).then(() => process.exit(0)));
