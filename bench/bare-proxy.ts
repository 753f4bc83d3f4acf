/**
 * The reference for the gateway's throughput (bench/proxy.ts, bench/gwperf-quick.ts): the bare
 * Bun `fetch` proxy anyone would write first. No auth, no metering, no logs: what Bun's server
 * and `fetch` client cost on their own. BARE_PORT, BARE_UPSTREAM (http://host:port).
 */
const upstream = process.env.BARE_UPSTREAM ?? "http://127.0.0.1:1";
Bun.serve({
  port: Number(process.env.BARE_PORT ?? 0),
  hostname: "127.0.0.1",
  async fetch(request) {
    const path = request.url.slice(request.url.indexOf("/", 8));
    if (path === "/healthz") return new Response("ok\n");
    const headers = new Headers(request.headers);
    headers.delete("host");
    const response = await fetch(upstream + path, { method: request.method, headers, body: request.body, redirect: "manual" });
    return new Response(response.body, { status: response.status, headers: response.headers });
  },
});
