/**
 * The tenant proxy: verifies the Cognito access token on every request and forwards
 * `/anthropic/*` to the Anthropic API with the tenant's key, streaming both ways.
 * Stateless: run as many replicas as you like behind any load balancer.
 */
import { randomBytes } from "node:crypto";
import { anthropicError } from "./anthropic-errors.ts";
import { tenantForHost, type ProxyConfig, type TenantConfig } from "./config.ts";
import { IssuerKeys } from "./jwks.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { extractToken, TokenRejected, VerifiedTokenCache, verifyAccessToken, type AccessPolicy, type VerifiedUser } from "./verify.ts";
import { relay, UsageScanner, type RelayOutcome } from "./usage.ts";
import { buildTenantDiscovery, DISCOVERY_PATH, RESOURCE_PATH } from "../shared/tenant-discovery.ts";

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

/** The route label for metrics (bounded cardinality). */
function routeOf(path: string): string {
  if (path === "/v1/messages") return "messages";
  if (path === "/v1/messages/count_tokens") return "count_tokens";
  if (path === "/v1/models" || path.startsWith("/v1/models/")) return "models";
  return "other";
}

/**
 * Maps the proxy path to the upstream path. Claude Code joins ANTHROPIC_BASE_URL and `/v1/...`
 * by concatenation, so the seed's base `.../anthropic/v1` arrives as `/anthropic/v1/v1/messages`;
 * a base without `/v1` arrives as `/anthropic/v1/messages`. Both reach upstream `/v1/messages`.
 */
export function upstreamPath(path: string): string {
  const rest = path.slice(RESOURCE_PATH.length) || "/";
  return rest.startsWith("/v1/v1/") || rest === "/v1/v1" ? rest.slice(3) : rest;
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

  function publicUrl(runtime: TenantRuntime, request: Request): string {
    if (runtime.config.publicUrl) return runtime.config.publicUrl;
    const url = new URL(request.url);
    const headers = request.headers;
    const proto = config.trustForwardedHeaders ? (headers.get("x-forwarded-proto")?.split(",")[0]?.trim() ?? url.protocol.slice(0, -1)) : url.protocol.slice(0, -1);
    const host = (config.trustForwardedHeaders ? headers.get("x-forwarded-host") : null) ?? headers.get("host") ?? url.host;
    return `${proto}://${host}`;
  }

  function discovery(runtime: TenantRuntime, request: Request): Response {
    const base = publicUrl(runtime, request);
    let body = runtime.discoveryJson.get(base);
    if (!body) {
      body = JSON.stringify(buildTenantDiscovery(base, runtime.config.issuer, runtime.config.cli, `agent-runner tenant ${runtime.config.slug}`));
      if (runtime.discoveryJson.size < 16) runtime.discoveryJson.set(base, body);
    }
    return new Response(body, { headers: { "content-type": "application/json", "cache-control": "public, max-age=300" } });
  }

  function unauthorized(runtime: TenantRuntime, request: Request, rejected: TokenRejected, requestId: string): Response {
    const metadata = `${publicUrl(runtime, request)}${DISCOVERY_PATH}`;
    if (rejected.reason === "group") return anthropicError(403, "permission_error", rejected.message, requestId);
    return anthropicError(401, "authentication_error", rejected.message, requestId, {
      "www-authenticate": `Bearer error="invalid_token", error_description="${rejected.message.replace(/["\\]/g, "'")}", resource_metadata="${metadata}"`,
    });
  }

  async function forward(runtime: TenantRuntime, request: Request, path: string, search: string, user: VerifiedUser, started: number, route: string): Promise<Response> {
    const tenant = runtime.config;
    // Clone natively, then drop: cheaper than copying header by header in JS.
    const headers = new Headers(request.headers);
    for (const name of DROP_REQUEST) headers.delete(name);
    headers.set("x-api-key", tenant.upstreamApiKey);
    headers.set("accept-encoding", "identity"); // SSE must not be compressed (nor buffered by a decoder)
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const length = Number(request.headers.get("content-length") ?? NaN);
    const body = !hasBody ? undefined : length <= BUFFERED_BODY_LIMIT ? await request.arrayBuffer() : request.body;
    const base: Omit<LogLine, "status" | "duration_ms"> = { time: new Date(started).toISOString(), tenant: tenant.slug, method: request.method, route, sub: user.sub, username: user.username };

    let upstream: Response;
    try {
      upstream = await upstreamFetch(tenant.upstream + upstreamPath(path) + search, {
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
    const url = request.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const queryStart = url.indexOf("?", pathStart);
    const path = queryStart === -1 ? url.slice(pathStart) : url.slice(pathStart, queryStart);
    const search = queryStart === -1 ? "" : url.slice(queryStart);

    if (path === "/healthz") return new Response("ok\n");
    if (path === "/readyz") {
      const notReady = [...keysByIssuer.values()].filter((k) => !k.loaded).map((k) => k.jwksUri);
      return notReady.length === 0 ? new Response("ready\n") : new Response(`JWKS not loaded: ${notReady.join(", ")}\n`, { status: 503 });
    }
    if (path === "/metrics") return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });

    const tenantConfig = tenantForHost(config, request.headers.get("host"));
    const runtime = tenantConfig && runtimes.get(tenantConfig);
    if (!runtime) {
      metrics.request("unknown", "other", 404);
      return anthropicError(404, "not_found_error", `no agent-runner tenant is served at ${request.headers.get("host") ?? "this address"}`, newRequestId());
    }
    if (path === DISCOVERY_PATH) return discovery(runtime, request);
    if (path !== RESOURCE_PATH && !path.startsWith(RESOURCE_PATH + "/")) {
      return anthropicError(404, "not_found_error", `not found: ${path} (the Anthropic API is under ${RESOURCE_PATH}/v1)`, newRequestId());
    }
    const route = routeOf(upstreamPath(path));
    // Claude Code's start-up probe: answer locally, no credentials needed, nothing forwarded.
    if (request.method === "HEAD") return new Response(null, { status: 200 });

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
      const response = unauthorized(runtime, request, e, requestId);
      metrics.verificationFailures.inc({ tenant: runtime.config.slug, reason: e.reason });
      metrics.request(runtime.config.slug, route, response.status);
      log({ time: new Date(started).toISOString(), tenant: runtime.config.slug, method: request.method, route, status: response.status, duration_ms: Date.now() - started, reject_reason: e.reason });
      return response;
    }
    return forward(runtime, request, path, search, user, started, route);
  }

  const server = Bun.serve({
    port: options.port,
    hostname: options.hostname ?? "0.0.0.0",
    ...(options.tls ? { tls: options.tls } : {}),
    idleTimeout: 0, // streams may be quiet for a long time between pings; no proxy-side cut-off
    maxRequestBodySize: 64 * 1024 * 1024,
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

  return {
    server,
    url: `${options.tls ? "https" : "http"}://${options.publicHost ?? (server.hostname === "0.0.0.0" ? "127.0.0.1" : server.hostname)}:${server.port}`,
    metrics,
    ready: () => Promise.all([...keysByIssuer.values()].map((k) => k.refresh())).then(() => undefined),
    /** Stops accepting, lets requests and streams in flight finish (bounded), then closes. */
    async shutdown(graceMs = config.shutdownGraceMs): Promise<void> {
      for (const k of keysByIssuer.values()) k.stop();
      const graceful = server.stop(false);
      await Promise.race([graceful, new Promise((r) => setTimeout(r, graceMs))]);
      await server.stop(true);
    },
  };
}

export type RunningProxy = ReturnType<typeof startProxy>;
