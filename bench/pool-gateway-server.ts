/**
 * The gateway (startProxy, one process) in front of the stub, for bench/pool-gateway.ts: with
 * MODE=direct it forwards as today; with MODE=pool its fetch goes through an upstream pool of
 * two Anthropic members (the stub first), the way the wiring plan puts the pool under forward.
 * The shim converts fetch arguments to the pool's request; the body's facts are read again (the
 * request path has them already and will hand them over once wired), so it costs a little more
 * than the wiring will. Prints the URL.
 */
import { parseTenant, type ProxyConfig } from "../src/proxy/config.ts";
import { startProxy } from "../src/proxy/http/server.ts";
import { buildPool } from "../src/proxy/upstreams/build.ts";
import { parsePoolConfig } from "../src/proxy/upstreams/config.ts";
import type { UpstreamRoute } from "../src/proxy/upstreams/types.ts";

const env = process.env;
const tenant = parseTenant("bench", { issuer: env.BENCH_ISSUER, clientIds: ["agent-runner-cli"], upstream: env.BENCH_STUB, upstreamApiKey: env.BENCH_KEY });
const config: ProxyConfig = { tenants: new Map([[tenant.slug, tenant]]), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 1000 };
let fetchImpl: typeof fetch = fetch;
if (env.MODE === "pool") {
  const members = [env.BENCH_STUB, env.BENCH_SPARE].map((url, i) => ({ name: `anthropic-${i}`, type: "anthropic", url, apiKeyEnv: "BENCH_KEY" }));
  const pool = await buildPool(parsePoolConfig(members, undefined, "bench"), { tenant: "bench", log: () => {}, now: Date.now, random: Math.random, newRequestId: () => "req_bench", env });
  const routeOf = (path: string): UpstreamRoute => (path === "/v1/messages" ? "messages" : path.startsWith("/v1/models") ? "models" : "count_tokens");
  const prefix = tenant.upstream;
  fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const target = String(input).slice(prefix.length);
    const q = target.indexOf("?");
    const [path, search] = q === -1 ? [target, ""] : [target.slice(0, q), target.slice(q)];
    const body = init?.body == null ? null : init.body instanceof Uint8Array ? (init.body as Uint8Array<ArrayBuffer>) : new Uint8Array(init.body as ArrayBuffer);
    const headers = init?.headers instanceof Headers ? init.headers : new Headers(init?.headers);
    const result = await pool.send({ route: routeOf(path), method: init?.method ?? "GET", path, search, headers, body, signal: init?.signal ?? new AbortController().signal });
    return result.response;
  }) as typeof fetch;
}
// MODE=adaptor: the Anthropic adaptor alone, without the Pool around it (tells the two costs apart)
if (env.MODE === "adaptor") {
  const { AnthropicUpstream } = await import("../src/proxy/upstreams/anthropic.ts");
  const { StaticKeySource } = await import("../src/proxy/upstreams/key-source.ts");
  const upstream = new AnthropicUpstream({ name: "a", url: env.BENCH_STUB as string, key: new StaticKeySource(env.BENCH_KEY as string) });
  const prefix = tenant.upstream;
  fetchImpl = ((input: string | URL | Request, init?: RequestInit) => {
    const target = String(input).slice(prefix.length);
    const body = init?.body == null ? null : init.body instanceof Uint8Array ? (init.body as Uint8Array<ArrayBuffer>) : new Uint8Array(init.body as ArrayBuffer);
    return upstream.send({ route: "messages", method: init?.method ?? "GET", path: target, search: "", headers: init?.headers as Headers, body, signal: init?.signal as AbortSignal }, undefined, init?.signal as AbortSignal);
  }) as typeof fetch;
}
const proxy = startProxy({ config, port: Number(env.BENCH_PORT), hostname: "127.0.0.1", fetch: fetchImpl, log: () => {} });
await proxy.ready();
console.log(proxy.url);
process.on("SIGTERM", () => void proxy.shutdown(200).then(() => process.exit(0)));
