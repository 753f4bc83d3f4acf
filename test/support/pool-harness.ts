/**
 * A pool behind HTTP without the rest of the gateway: the allowlist of routes.ts, the client's
 * credentials and hop-by-hop headers dropped, the body read whole, the pool's answer returned as
 * it is. No tokens, limits or ledger: this serves clients such as the official SDK in the
 * adaptors' compatibility tests (bedrock-compat.test.ts), where the byte-for-byte comparison is
 * the point; the gateway's own behaviour is tested through its process (gateway-pool.test.ts).
 */
import { RESOURCE_PATH } from "../../src/shared/tenant-discovery.ts";
import { decideRoute } from "../../src/proxy/http/routes.ts";
import type { Pool, PoolResult } from "../../src/proxy/upstreams/pool.ts";

const DROP = ["host", "authorization", "x-api-key", "cookie", "connection", "keep-alive", "transfer-encoding", "content-length", "accept-encoding"];

export function servePool(pool: Pool, onResult: (result: PoolResult) => void = () => {}) {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const decision = decideRoute(request.method, url.pathname, url.search);
      if (decision.kind === "probe") return new Response(null, { status: 200 }); // Claude Code's start-up HEAD, as the gateway answers it
      if (decision.kind !== "forward") return new Response("not routed", { status: 404 });
      const headers = new Headers(request.headers);
      for (const name of DROP) headers.delete(name);
      const body = request.method === "GET" ? null : new Uint8Array(await request.arrayBuffer());
      const result = await pool.send({ route: decision.route, method: request.method, path: decision.upstreamPath, search: decision.search, headers, body, signal: request.signal });
      onResult(result);
      return result.response;
    },
  });
  return { url: `http://127.0.0.1:${server.port}${RESOURCE_PATH}`, stop: () => server.stop(true) };
}
