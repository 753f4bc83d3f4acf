/**
 * Forwarding through the tenant's upstream pool (upstreams/pool.ts: failover before the first
 * byte, each upstream's own credential): the client's credentials and hop-by-hop headers
 * dropped, the answer streamed back as the client reads it, the usage read on the way through.
 * `forward` answers the response to send and how it ended (whole, cut by the client, failed
 * upstream, or never reached): at once, or when an SSE stream is over. It records on the
 * exchange which upstream served and how many attempts it took; the request path logs and settles.
 */
import { relay, UsageScanner, type RelayOutcome, type Usage } from "../accounting/usage.ts";
import type { BodyFacts } from "../upstreams/types.ts";
import { GatewayRefusal } from "./errors.ts";
import type { TenantExchange } from "./exchange.ts";
import type { ApiRoute } from "./routes.ts";

export const UPSTREAM_AUTH_MESSAGE = "the gateway's upstream credential was refused; contact your administrator";

/** Request headers never forwarded: the client's credentials, and hop-by-hop headers. */
const DROP_REQUEST = new Set([
  "host", "authorization", "x-api-key", "cookie", "connection", "keep-alive", "proxy-authorization",
  "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "accept-encoding",
  "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
]);
/** Response headers not relayed (hop-by-hop; the body is re-framed by this server). */
const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "trailer", "upgrade"]);

/** What the request path forwards: the upstream path the route allows, and the re-serialised query. */
export interface ForwardTarget {
  upstreamPath: string;
  search: string;
}

export interface ForwardEnd {
  /** `upstream_auth`: every upstream tried refused its key (answered 502, never relayed). */
  outcome: RelayOutcome | "unreachable" | "body_too_large" | "upstream_auth";
  /** The status the client got: the upstream's; 499 (client gone) or 502 when it was never reached or refused the tenant's key. */
  status: number;
  /** The upstream's own status, when the client got another (upstream_auth). */
  upstreamStatus?: number;
  usage: Usage;
  upstreamRequestId: string | null;
  ttfbMs?: number;
}

export interface Forwarded {
  response: Response;
  /** How the answer ended: known at once for a whole answer or a failure; for an SSE stream, when it is over. */
  end: ForwardEnd | Promise<ForwardEnd>;
}

const NOTHING: Usage = Object.freeze({});

/** The request as the pool takes it: its route, method, body (whole: failover may resend it) and facts. */
export interface ForwardRequest extends ForwardTarget {
  route: ApiRoute;
  body: Uint8Array<ArrayBuffer> | null;
  /** The body's model and stream flag, when the request path read them already. */
  facts?: BodyFacts;
}

export async function forward(ex: TenantExchange, target: ForwardRequest, extraHeaders?: Record<string, string>): Promise<Forwarded> {
  const { request, ctx } = ex;
  // Clone natively, then drop: cheaper than copying header by header in JS. Each upstream sets its own credential.
  const headers = new Headers(request.headers);
  for (const name of DROP_REQUEST) headers.delete(name);

  ctx.connections.hold(request);
  const result = await ex.runtime.pool.send({
    route: target.route,
    method: request.method,
    path: target.upstreamPath,
    search: target.search,
    headers,
    body: target.body,
    ...(target.facts ? { facts: target.facts } : {}),
    // read only when asked (Bun makes a request's signal on first use, ~1 µs): the pool asks
    // before a retry and at its deadline ticks, for attempts still waiting; one created after the
    // client went away is already aborted
    get signal() {
      return request.signal;
    },
  });
  ex.attempts = result.attempts;
  const served = result.upstream ?? result.tried.at(-1)?.upstream;
  if (served !== undefined) ex.upstream = served;
  const answer = result.response;
  if (result.failure === "upstream_auth") {
    // The client's credentials never go upstream: a 401/403 there is about the tenant's own key
    // (every upstream tried refused theirs). Relayed, Claude Code would take it for its own
    // credential (re-run its helper, ask the person to log in); it is the gateway's problem.
    ctx.connections.release(request);
    await answer.body?.cancel().catch(() => {});
    return { response: ex.answer(new GatewayRefusal("upstream_auth", UPSTREAM_AUTH_MESSAGE)), end: { outcome: "upstream_auth", status: 502, upstreamStatus: answer.status, usage: NOTHING, upstreamRequestId: answer.headers.get("request-id") } };
  }
  if (result.upstream === null && (result.failure === "unreachable" || result.failure === "cancelled")) {
    ctx.connections.release(request);
    const names = [...new Set(result.tried.map((t) => t.upstream))].join(", ");
    const refusal = new GatewayRefusal("upstream_unreachable", `the tenant proxy could not reach its upstreams (tried ${names})`);
    return { response: ex.answer(refusal), end: { outcome: "unreachable", status: request.signal.aborted ? 499 : 502, usage: NOTHING, upstreamRequestId: null } };
  }
  const ttfbMs = Date.now() - ex.started;
  const upstreamRequestId = answer.headers.get("request-id");
  const responseHeaders = new Headers(answer.headers);
  for (const name of DROP_RESPONSE) responseHeaders.delete(name);
  if (extraHeaders) for (const name in extraHeaders) responseHeaders.set(name, extraHeaders[name] as string);
  const sse = responseHeaders.get("content-type")?.includes("text/event-stream") ?? false;
  if (sse) {
    responseHeaders.set("cache-control", "no-cache");
    responseHeaders.set("x-accel-buffering", "no"); // tell any nginx in front not to buffer
  }
  const scanner = new UsageScanner(answer.headers.get("content-type"));
  const status = answer.status;
  if (request.method === "HEAD") return noBody(ex, status, responseHeaders, scanner, upstreamRequestId, ttfbMs);
  if (!sse) {
    // A JSON answer is complete only when whole; read it at once (cheaper than relaying chunks),
    // without `answer.body` (a stream object made on first use)
    let whole: ArrayBuffer;
    try {
      whole = await answer.arrayBuffer();
    } catch (e) {
      ctx.connections.release(request);
      const refusal = new GatewayRefusal("upstream_failed", `the Anthropic API connection failed mid-response: ${(e as Error).message}`, { cause: e });
      return { response: ex.answer(refusal), end: { outcome: "failed", status, usage: scanner.finish(), upstreamRequestId, ttfbMs } };
    }
    if (whole.byteLength === 0 && answer.body === null) return noBody(ex, status, responseHeaders, scanner, upstreamRequestId, ttfbMs);
    ctx.connections.release(request);
    scanner.push(new Uint8Array(whole));
    return { response: new Response(whole, { status, headers: responseHeaders }), end: { outcome: "completed", status, usage: scanner.finish(), upstreamRequestId, ttfbMs } };
  }
  if (!answer.body) return noBody(ex, status, responseHeaders, scanner, upstreamRequestId, ttfbMs);
  const { promise, resolve } = Promise.withResolvers<ForwardEnd>();
  const stream = relay(
    answer.body,
    (chunk) => scanner.push(chunk),
    (outcome) => {
      ctx.connections.release(request);
      resolve({ outcome, status, usage: scanner.finish(), upstreamRequestId, ttfbMs });
    },
  );
  return { response: new Response(stream, { status, headers: responseHeaders }), end: promise };
}

/** An answer without a body (HEAD, 204, 304): passed on as such. */
function noBody(ex: TenantExchange, status: number, headers: Headers, scanner: UsageScanner, upstreamRequestId: string | null, ttfbMs: number): Forwarded {
  ex.ctx.connections.release(ex.request);
  return { response: new Response(null, { status, headers }), end: { outcome: "completed", status, usage: scanner.finish(), upstreamRequestId, ttfbMs } };
}
