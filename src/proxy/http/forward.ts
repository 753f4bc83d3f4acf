/**
 * Forwarding to the Anthropic API with the tenant's key: the client's credentials and hop-by-hop
 * headers dropped, the answer streamed back as the client reads it, the usage read on the way
 * through. `onEnd` is called exactly once, when the answer is over (whole, cut by the client,
 * failed upstream, or never reached).
 */
import type { TenantConfig } from "../config.ts";
import { relay, UsageScanner, type RelayOutcome, type Usage } from "../accounting/usage.ts";
import type { RequestBody } from "./body.ts";
import { GatewayRefusal, refusalResponse } from "./errors.ts";

export const UPSTREAM_AUTH_MESSAGE = "the gateway's upstream credential was refused; contact your administrator";

/** Request headers never forwarded: the client's credentials, and hop-by-hop headers. */
const DROP_REQUEST = new Set([
  "host", "authorization", "x-api-key", "cookie", "connection", "keep-alive", "proxy-authorization",
  "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "accept-encoding",
  "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
]);
/** Response headers not relayed (hop-by-hop; the body is re-framed by this server). */
const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "trailer", "upgrade"]);

export interface ForwardEnd {
  /** `upstream_auth`: the upstream refused the tenant's key (answered 502, never relayed). */
  outcome: RelayOutcome | "unreachable" | "body_too_large" | "upstream_auth";
  /** The status the client got: the upstream's; 499 (client gone) or 502 when it was never reached or refused the tenant's key. */
  status: number;
  /** The upstream's own status, when the client got another (upstream_auth). */
  upstreamStatus?: number;
  usage: Usage;
  upstreamRequestId: string | null;
  ttfbMs?: number;
}

export interface ForwardDeps {
  fetch: typeof fetch;
  newRequestId(): string;
  /** Lifts the client connection's idle limit while the request is upstream; returns the undo. */
  holdOpen(request: Request): () => void;
}

export async function forward(
  deps: ForwardDeps,
  tenant: TenantConfig,
  request: Request,
  target: { upstreamPath: string; search: string },
  body: RequestBody,
  started: number,
  onEnd: (end: ForwardEnd) => void,
  /** The 413 answer, for a chunked body that grew past the limit on its way upstream. */
  tooLarge: () => Response,
  extraHeaders?: Record<string, string>,
): Promise<Response> {
  // Clone natively, then drop: cheaper than copying header by header in JS.
  const headers = new Headers(request.headers);
  for (const name of DROP_REQUEST) headers.delete(name);
  headers.set("x-api-key", tenant.upstreamApiKey);
  headers.set("accept-encoding", "identity"); // SSE must not be compressed (nor buffered by a decoder)

  const release = deps.holdOpen(request);
  let upstream: Response;
  try {
    upstream = await deps.fetch(tenant.upstream + target.upstreamPath + target.search, {
      method: request.method,
      headers,
      body: body.kind === "whole" ? body.body : body.kind === "stream" ? body.stream : undefined,
      // No total timeout (long generations are normal); a client that goes away aborts upstream.
      signal: request.signal,
      redirect: "manual",
      // @ts-expect-error Bun-specific: request bodies stream without buffering; no client timeout.
      duplex: "half",
      timeout: false,
    });
  } catch (e) {
    release();
    if (body.kind === "stream" && body.exceeded()) {
      onEnd({ outcome: "body_too_large", status: 413, usage: {}, upstreamRequestId: null });
      return tooLarge();
    }
    onEnd({ outcome: "unreachable", status: request.signal.aborted ? 499 : 502, usage: {}, upstreamRequestId: null });
    return refusalResponse(new GatewayRefusal("upstream_unreachable", `the tenant proxy could not reach the Anthropic API: ${(e as Error).message}`, { cause: e }), deps.newRequestId());
  }
  const ttfbMs = Date.now() - started;
  if (upstream.status === 401 || upstream.status === 403) {
    // The client's credentials never go upstream: a 401/403 there is about the tenant's own key.
    // Relayed, Claude Code would take it for its own credential (re-run its helper, ask the
    // person to log in); it is the gateway's problem, answered as one.
    release();
    await upstream.body?.cancel().catch(() => {});
    onEnd({ outcome: "upstream_auth", status: 502, upstreamStatus: upstream.status, usage: {}, upstreamRequestId: upstream.headers.get("request-id"), ttfbMs });
    return refusalResponse(new GatewayRefusal("upstream_auth", UPSTREAM_AUTH_MESSAGE), deps.newRequestId());
  }
  const responseHeaders = new Headers(upstream.headers);
  for (const name of DROP_RESPONSE) responseHeaders.delete(name);
  for (const [name, value] of Object.entries(extraHeaders ?? {})) responseHeaders.set(name, value);
  const sse = responseHeaders.get("content-type")?.includes("text/event-stream") ?? false;
  if (sse) {
    responseHeaders.set("cache-control", "no-cache");
    responseHeaders.set("x-accel-buffering", "no"); // tell any nginx in front not to buffer
  }
  const upstreamRequestId = upstream.headers.get("request-id");
  const scanner = new UsageScanner(upstream.headers.get("content-type"));
  const done = (outcome: RelayOutcome) => {
    release();
    onEnd({ outcome, status: upstream.status, usage: scanner.finish(), upstreamRequestId, ttfbMs });
  };
  if (!upstream.body || request.method === "HEAD") {
    done("completed");
    return new Response(null, { status: upstream.status, headers: responseHeaders });
  }
  if (!sse) {
    // A JSON answer is complete only when whole; read it at once (cheaper than relaying chunks).
    let whole: ArrayBuffer;
    try {
      whole = await upstream.arrayBuffer();
    } catch (e) {
      done("failed");
      return refusalResponse(new GatewayRefusal("upstream_failed", `the Anthropic API connection failed mid-response: ${(e as Error).message}`, { cause: e }), deps.newRequestId());
    }
    scanner.push(new Uint8Array(whole));
    done("completed");
    return new Response(whole, { status: upstream.status, headers: responseHeaders });
  }
  return new Response(relay(upstream.body, (chunk) => scanner.push(chunk), done), { status: upstream.status, headers: responseHeaders });
}
