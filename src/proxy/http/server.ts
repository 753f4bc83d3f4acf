/**
 * The tenant proxy: verifies the Cognito access token on every request and forwards
 * `/anthropic/*` to the Anthropic API with the tenant's key, streaming both ways.
 * Stateless: run as many replicas as you like behind any load balancer.
 */
import { randomBytes } from "node:crypto";
import type { Server } from "bun";
import { anthropicError, type AnthropicErrorType } from "./errors.ts";
import { DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES, tenantForHost, type ProxyConfig, type TenantConfig } from "../config.ts";
import { decideRoute, validHost } from "./routes.ts";
import { IssuerKeys } from "../auth/jwks.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { extractToken, TokenRejected, VerifiedTokenCache, verifyAccessToken, type AccessPolicy, type VerifiedUser } from "../auth/verify.ts";
import { relay, UsageScanner, type RelayOutcome } from "../accounting/usage.ts";
import { buildTenantDiscovery, DISCOVERY_PATH } from "../../shared/tenant-discovery.ts";

/** Request headers never forwarded: the client's credentials, and hop-by-hop headers. */
const DROP_REQUEST = new Set([
  "host", "authorization", "x-api-key", "cookie", "connection", "keep-alive", "proxy-authorization",
  "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "accept-encoding",
  "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
]);
/** Response headers not relayed (hop-by-hop; the body is re-framed by this server). */
const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "trailer", "upgrade"]);

export interface LogLine {
  time: string;
  tenant: string | null;
  method: string;
  route: string;
  status: number;
  duration_ms: number;
  upstream_ttfb_ms?: number;
  sub?: string;
  username?: string;
  model?: string;
  input_tokens?: number;
  output_tokens?: number;
  upstream_request_id?: string | null;
  reject_reason?: string;
  /** The proxy's own request id, on answers the proxy gives itself (rejections). */
  request_id?: string;
  completed?: boolean;
  /** How an unfinished response ended: the client went away, or the upstream failed. */
  outcome?: "cancelled" | "failed";
}

export interface ProxyOptions {
  config: ProxyConfig;
  port: number;
  hostname?: string;
  /** Receives one line per request; default: JSON on stdout. */
  log?: (line: LogLine) => void;
  fetch?: typeof fetch;
  /** Serve HTTPS with this certificate (PEM). */
  tls?: { cert: string; key: string };
  /** The host name in the URL reported as `url` (default: the listening address). */
  publicHost?: string;
  /** Serve `/metrics` on this separate listener (default hostname 127.0.0.1); absent: no metrics endpoint. */
  metrics?: { port: number; hostname?: string };
}

interface TenantRuntime {
  config: TenantConfig;
  keys: IssuerKeys;
  policy: AccessPolicy;
  verified: VerifiedTokenCache;
  discoveryJson: Map<string, string>;
}

/** Request bodies up to this size are read whole (faster upstream); larger ones stream. */
const BUFFERED_BODY_LIMIT = 1 << 20;

function newRequestId(): string {
  return `req_proxy_${randomBytes(12).toString("hex")}`;
}

export { upstreamPath } from "./routes.ts";

/** Splits `request.url` into path and search without a URL parse (Bun gives a relative URL for an odd Host). */
function splitTarget(url: string): { path: string; search: string } {
  const pathStart = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (pathStart === -1) return { path: "/", search: "" };
  const queryStart = url.indexOf("?", pathStart);
  return queryStart === -1 ? { path: url.slice(pathStart), search: "" } : { path: url.slice(pathStart, queryStart), search: url.slice(queryStart) };
}

/** Thrown into a chunked request body that grows past the limit (recognised by class). */
class BodyTooLarge extends Error {
  readonly code = "body_too_large";
}

type ChunkedBody = { kind: "whole"; body: Uint8Array<ArrayBuffer> } | { kind: "stream"; stream: ReadableStream<Uint8Array>; exceeded(): boolean } | { kind: "too_large" };

/**
 * A body without Content-Length, bounded by `limit`: up to `buffered` bytes are read first (so a
 * small body, or one that is already too large, never reaches the upstream); the rest streams
 * on, counted, and errors the upstream request once it grows past the limit.
 */
async function readChunkedBody(body: ReadableStream<Uint8Array>, limit: number, buffered: number): Promise<ChunkedBody> {
  const reader = body.getReader();
  const head: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { kind: "whole", body: new Uint8Array(Buffer.concat(head)) };
    total += value.byteLength;
    if (total > limit) {
      void reader.cancel().catch(() => {});
      return { kind: "too_large" };
    }
    head.push(value);
    if (total > buffered) break;
  }
  let exceeded = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const first = head.shift();
      if (first) return controller.enqueue(first);
      const { value, done } = await reader.read();
      if (done) return controller.close();
      total += value.byteLength;
      if (total > limit) {
        exceeded = true;
        void reader.cancel().catch(() => {});
        return controller.error(new BodyTooLarge(`request body over ${limit} bytes`));
      }
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { kind: "stream", stream, exceeded: () => exceeded };
}

function stdoutLogger(): (line: LogLine) => void {
  const writer = Bun.stdout.writer();
  let scheduled = false;
  return (line) => {
    writer.write(JSON.stringify(line) + "\n");
    if (!scheduled) {
      scheduled = true;
      setTimeout(() => {
        scheduled = false;
        void writer.flush();
      }, 20);
    }
  };
}

export function startProxy(options: ProxyOptions) {
  const { config } = options;
  const maxBodyBytes = config.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const idleTimeout = config.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS;
  const metrics: Metrics = createMetrics();
  const log = options.log ?? stdoutLogger();
  const upstreamFetch = options.fetch ?? fetch;
  const runtimes = new Map<TenantConfig, TenantRuntime>();
  const allTenants = config.single ? [config.single] : [...config.tenants.values()];
  const keysByIssuer = new Map<string, IssuerKeys>();
  const cachesByIssuer = new Map<string, VerifiedTokenCache[]>();
  for (const tenant of allTenants) {
    const verified = new VerifiedTokenCache();
    const caches = cachesByIssuer.get(tenant.jwksUri) ?? [];
    caches.push(verified);
    cachesByIssuer.set(tenant.jwksUri, caches);
    let keys = keysByIssuer.get(tenant.jwksUri);
    if (!keys) {
      keys = new IssuerKeys(tenant.jwksUri, {
        onRefresh: (ok) => metrics.jwksRefreshes.inc({ tenant: tenant.slug, outcome: ok ? "ok" : "error" }),
        onKeysChanged: () => {
          for (const cache of cachesByIssuer.get(tenant.jwksUri) ?? []) cache.clear();
        },
      });
      keysByIssuer.set(tenant.jwksUri, keys);
      keys.startBackgroundRefresh();
      void keys.refresh().catch((e) => console.error(JSON.stringify({ time: new Date().toISOString(), level: "warn", tenant: tenant.slug, message: `JWKS not loaded yet: ${(e as Error).message}` })));
    }
    runtimes.set(tenant, {
      config: tenant,
      keys,
      policy: { issuer: tenant.issuer, clientIds: new Set(tenant.clientIds), requiredGroups: tenant.requiredGroups },
      verified,
      discoveryJson: new Map(),
    });
  }

  /**
   * The tenant's public base URL: configured, or built from the (already validated) Host, or from
   * X-Forwarded-Proto/-Host when trusted, which must then be http(s) and a valid host; `null` if not.
   */
  function publicUrl(runtime: TenantRuntime, request: Request, host: string): string | null {
    if (runtime.config.publicUrl) return runtime.config.publicUrl;
    let proto = options.tls ? "https" : "http";
    let publicHost: string | null = host;
    if (config.trustForwardedHeaders) {
      const forwardedProto = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim();
      if (forwardedProto !== undefined) {
        if (forwardedProto !== "http" && forwardedProto !== "https") return null;
        proto = forwardedProto;
      }
      const forwardedHost = request.headers.get("x-forwarded-host");
      if (forwardedHost !== null) publicHost = validHost(forwardedHost.split(",")[0]?.trim());
    }
    return publicHost ? `${proto}://${publicHost}` : null;
  }

  /** An answer the proxy gives itself, refusing the request: logged with its reason, counted, with a request-id. */
  function rejected(request: Request, started: number, tenant: string | null, route: string, status: number, type: AnthropicErrorType, reason: string, message: string, headers: Record<string, string> = {}): Response {
    const requestId = newRequestId();
    metrics.request(tenant ?? "unknown", route, status);
    log({ time: new Date(started).toISOString(), tenant, method: request.method, route, status, duration_ms: Date.now() - started, reject_reason: reason, request_id: requestId });
    return anthropicError(status, type, message, requestId, headers);
  }

  function tooLarge(request: Request, started: number, tenant: string, route: string): Response {
    // The rest of the body is not read: close the connection rather than drain it.
    return rejected(request, started, tenant, route, 413, "request_too_large", "body_too_large", `the request body is larger than this proxy accepts (${maxBodyBytes} bytes)`, { connection: "close" });
  }

  function discovery(runtime: TenantRuntime, base: string): Response {
    let body = runtime.discoveryJson.get(base);
    if (!body) {
      body = JSON.stringify(buildTenantDiscovery(base, runtime.config.issuer, runtime.config.cli, `agent-runner tenant ${runtime.config.slug}`));
      if (runtime.discoveryJson.size < 16) runtime.discoveryJson.set(base, body);
    }
    return new Response(body, { headers: { "content-type": "application/json", "cache-control": "public, max-age=300" } });
  }

  function unauthorized(base: string, rejected: TokenRejected, requestId: string): Response {
    const metadata = `${base}${DISCOVERY_PATH}`;
    if (rejected.reason === "group") return anthropicError(403, "permission_error", rejected.message, requestId);
    return anthropicError(401, "authentication_error", rejected.message, requestId, {
      "www-authenticate": `Bearer error="invalid_token", error_description="${rejected.message.replace(/["\\]/g, "'")}", resource_metadata="${metadata}"`,
    });
  }

  /**
   * While a request is upstream its client connection may be quiet for minutes (a long generation,
   * a stream between pings): lift the idle limit for it, and put the limit back once the response
   * is over, because Bun keeps a per-request timeout on the keep-alive socket afterwards.
   */
  function holdOpen(request: Request): () => void {
    server.timeout(request, 0);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      try {
        server.timeout(request, idleTimeout);
      } catch {
        // the client has gone: nothing to limit
      }
    };
  }

  async function forward(runtime: TenantRuntime, request: Request, target: { route: string; upstreamPath: string; search: string }, user: VerifiedUser, started: number): Promise<Response> {
    const tenant = runtime.config;
    const { route } = target;
    // Clone natively, then drop: cheaper than copying header by header in JS.
    const headers = new Headers(request.headers);
    for (const name of DROP_REQUEST) headers.delete(name);
    headers.set("x-api-key", tenant.upstreamApiKey);
    headers.set("accept-encoding", "identity"); // SSE must not be compressed (nor buffered by a decoder)
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const lengthHeader = request.headers.get("content-length");
    const length = Number(lengthHeader ?? NaN);
    // A declared length was checked before this (and Bun holds the client to it); a chunked body is counted.
    const chunked = hasBody && lengthHeader === null && request.body ? await readChunkedBody(request.body, maxBodyBytes, BUFFERED_BODY_LIMIT) : undefined;
    if (chunked?.kind === "too_large") return tooLarge(request, started, tenant.slug, route);
    const limited = chunked?.kind === "stream" ? chunked : undefined;
    const body = !hasBody ? undefined : chunked ? (chunked.kind === "whole" ? chunked.body : limited?.stream) : length <= BUFFERED_BODY_LIMIT ? await request.arrayBuffer() : request.body;
    const base: Omit<LogLine, "status" | "duration_ms"> = { time: new Date(started).toISOString(), tenant: tenant.slug, method: request.method, route, sub: user.sub, username: user.username };

    const release = holdOpen(request);
    let upstream: Response;
    try {
      upstream = await upstreamFetch(tenant.upstream + target.upstreamPath + target.search, {
        method: request.method,
        headers,
        body,
        // No total timeout (long generations are normal); a client that goes away aborts upstream.
        signal: request.signal,
        redirect: "manual",
        // @ts-expect-error Bun-specific: request bodies stream without buffering; no client timeout.
        duplex: "half",
        timeout: false,
      });
    } catch (e) {
      release();
      if (limited?.exceeded()) return tooLarge(request, started, tenant.slug, route);
      const requestId = newRequestId();
      const aborted = request.signal.aborted;
      const status = aborted ? 499 : 502;
      metrics.request(tenant.slug, route, status);
      log({ ...base, status, duration_ms: Date.now() - started, completed: false });
      return anthropicError(502, "api_error", `the tenant proxy could not reach the Anthropic API: ${(e as Error).message}`, requestId);
    }
    const ttfb = Date.now() - started;
    metrics.upstreamTtfb(tenant.slug, route, ttfb / 1000);
    const responseHeaders = new Headers(upstream.headers);
    for (const name of DROP_RESPONSE) responseHeaders.delete(name);
    if (responseHeaders.get("content-type")?.includes("text/event-stream")) {
      responseHeaders.set("cache-control", "no-cache");
      responseHeaders.set("x-accel-buffering", "no"); // tell any nginx in front not to buffer
    }
    const upstreamRequestId = upstream.headers.get("request-id");
    const scanner = new UsageScanner(upstream.headers.get("content-type"));
    const done = (outcome: RelayOutcome) => {
      release();
      const usage = scanner.finish();
      const duration = Date.now() - started;
      metrics.request(tenant.slug, route, upstream.status);
      metrics.duration(tenant.slug, route, duration / 1000);
      if (usage.inputTokens) metrics.tokens.inc({ tenant: tenant.slug, direction: "input" }, usage.inputTokens);
      if (usage.outputTokens) metrics.tokens.inc({ tenant: tenant.slug, direction: "output" }, usage.outputTokens);
      log({
        ...base,
        status: upstream.status,
        duration_ms: duration,
        upstream_ttfb_ms: ttfb,
        model: usage.model,
        input_tokens: usage.inputTokens,
        output_tokens: usage.outputTokens,
        upstream_request_id: upstreamRequestId,
        completed: outcome === "completed",
        ...(outcome !== "completed" ? { outcome } : {}),
      });
    };
    if (!upstream.body || request.method === "HEAD") {
      done("completed");
      return new Response(null, { status: upstream.status, headers: responseHeaders });
    }
    if (!responseHeaders.get("content-type")?.includes("text/event-stream")) {
      // A JSON answer is complete only when whole; read it at once (cheaper than relaying chunks).
      let whole: ArrayBuffer;
      try {
        whole = await upstream.arrayBuffer();
      } catch (e) {
        done("failed");
        return anthropicError(502, "api_error", `the Anthropic API connection failed mid-response: ${(e as Error).message}`, newRequestId());
      }
      scanner.push(new Uint8Array(whole));
      done("completed");
      return new Response(whole, { status: upstream.status, headers: responseHeaders });
    }
    const stream = relay(upstream.body, (chunk) => scanner.push(chunk), done);
    return new Response(stream, { status: upstream.status, headers: responseHeaders });
  }

  async function handle(request: Request): Promise<Response> {
    const started = Date.now();
    const { path, search } = splitTarget(request.url);

    // Open to anyone, so they say nothing about tenants (which JWKS failed is in the warn log).
    if (path === "/healthz") return new Response("ok\n");
    if (path === "/readyz") {
      const ready = [...keysByIssuer.values()].every((k) => k.loaded);
      return ready ? new Response("ready\n") : new Response("not ready: signing keys not loaded yet\n", { status: 503 });
    }

    const host = validHost(request.headers.get("host"));
    if (!host) return rejected(request, started, null, "other", 400, "invalid_request_error", "bad_host", "the Host header must be a host name or address with an optional port from 1 to 65535");
    const tenantConfig = tenantForHost(config, host);
    const runtime = tenantConfig && runtimes.get(tenantConfig);
    if (!runtime) return rejected(request, started, null, "other", 404, "not_found_error", "unknown_tenant", `no agent-runner tenant is served at ${host}`);
    const slug = runtime.config.slug;
    const base = publicUrl(runtime, request, host);
    if (!base) return rejected(request, started, slug, "other", 400, "invalid_request_error", "bad_forwarded_host", "X-Forwarded-Host must be a host name with an optional port, and X-Forwarded-Proto http or https");
    if (path === DISCOVERY_PATH) return discovery(runtime, base);

    const decision = decideRoute(request.method, path, search);
    if (decision.kind === "reject") {
      return rejected(request, started, slug, "other", decision.status, decision.status === 400 ? "invalid_request_error" : "not_found_error", decision.reason, decision.message);
    }
    if (decision.kind === "probe") return new Response(null, { status: 200 });
    if (Number(request.headers.get("content-length") ?? 0) > maxBodyBytes) return tooLarge(request, started, slug, decision.route);

    let user: VerifiedUser | undefined;
    try {
      const token = extractToken(request.headers);
      user = token ? runtime.verified.get(token) : undefined;
      if (!user) {
        user = await verifyAccessToken(token, runtime.policy, runtime.keys);
        runtime.verified.set(token as string, user);
      }
    } catch (e) {
      if (!(e instanceof TokenRejected)) throw e;
      const requestId = newRequestId();
      const response = unauthorized(base, e, requestId);
      metrics.verificationFailures.inc({ tenant: slug, reason: e.reason });
      metrics.request(slug, decision.route, response.status);
      log({ time: new Date(started).toISOString(), tenant: slug, method: request.method, route: decision.route, status: response.status, duration_ms: Date.now() - started, reject_reason: e.reason });
      return response;
    }
    return forward(runtime, request, decision, user, started);
  }

  async function serveMetrics(request: Request): Promise<Response> {
    if (splitTarget(request.url).path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) return new Response("not found\n", { status: 404 });
    return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
  }

  const server: Server<undefined> = Bun.serve({
    port: options.port,
    hostname: options.hostname ?? "0.0.0.0",
    ...(options.tls ? { tls: options.tls } : {}),
    // Idle keep-alive connections are closed after this; requests upstream lift it (holdOpen).
    idleTimeout,
    // Bun's own limit answers a bare 413 (not the API's shape): set it out of the way and
    // enforce maxBodyBytes here, for declared lengths and for chunked bodies as they stream.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    async fetch(request) {
      metrics.inflight.inc();
      try {
        return await handle(request);
      } catch (e) {
        return anthropicError(500, "api_error", `internal proxy error: ${(e as Error).message}`, newRequestId());
      } finally {
        metrics.inflight.dec();
      }
    },
    error(error) {
      return anthropicError(500, "api_error", `internal proxy error: ${error.message}`, newRequestId());
    },
  });
  // Metrics name every tenant and its traffic: only on their own listener, loopback by default.
  const metricsServer = options.metrics
    ? Bun.serve({ port: options.metrics.port, hostname: options.metrics.hostname ?? "127.0.0.1", idleTimeout, fetch: serveMetrics })
    : undefined;

  return {
    server,
    url: `${options.tls ? "https" : "http"}://${options.publicHost ?? (server.hostname === "0.0.0.0" ? "127.0.0.1" : server.hostname)}:${server.port}`,
    metrics,
    /** Where `/metrics` is served, when a metrics listener was asked for. */
    metricsUrl: metricsServer ? `http://${metricsServer.hostname}:${metricsServer.port}` : undefined,
    ready: () => Promise.all([...keysByIssuer.values()].map((k) => k.refresh())).then(() => undefined),
    /** Stops accepting, lets requests and streams in flight finish (bounded), then closes. */
    async shutdown(graceMs = config.shutdownGraceMs): Promise<void> {
      for (const k of keysByIssuer.values()) k.stop();
      const graceful = server.stop(false);
      await Promise.race([graceful, new Promise((r) => setTimeout(r, graceMs))]);
      await Promise.all([server.stop(true), metricsServer?.stop(true)]);
    },
  };
}

export type RunningProxy = ReturnType<typeof startProxy>;
