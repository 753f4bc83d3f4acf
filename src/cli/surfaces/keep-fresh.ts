/**
 * `exec --keep-fresh`: a forwarder on 127.0.0.1 for the child's lifetime (issue 21, point 2; the
 * answer aws-vault gave to credentials that die under a long job). The child gets
 * ANTHROPIC_BASE_URL pointing here (the tenant's path layout: /anthropic/v1) and
 * ANTHROPIC_AUTH_TOKEN = a random per-run secret that only this forwarder accepts. Each request:
 *   1. its sender must be a process of this user (or root): the owner of the client socket, from
 *      the kernel (oauth/loopback-peer.ts, as for the login listener); unknown off Linux;
 *   2. it must carry the secret (Authorization: Bearer, or x-api-key), compared in constant time;
 *   3. its method and path must be on the gateway's own allowlist (src/shared/api-routes.ts);
 *   4. the secret is replaced by a fresh access token (`accessToken`: the session use case,
 *      single flight) and the request goes to the tenant's gateway, streamed both ways untouched
 *      (SSE included), bounded: request bodies up to the gateway's default limit, at most
 *      MAX_IN_FLIGHT requests at once, response headers within UPSTREAM_HEADERS_TIMEOUT_MS.
 * Nothing else is served; the secret is never sent anywhere.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Server } from "bun";
import { decideRoute } from "../../shared/api-routes.ts";
import { CliError, ExitCode } from "../errors.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";
import { loopbackPeerUid, type PeerAddress } from "../oauth/loopback-peer.ts";

/** The gateway's default body limit (src/proxy/config.ts): a larger body would be refused there anyway. */
export const MAX_REQUEST_BODY_BYTES = 32 * 1024 * 1024;
export const MAX_IN_FLIGHT = 64;
/** A non-streamed answer may take minutes (the API allows 10); a streamed one sends headers at once. */
export const UPSTREAM_HEADERS_TIMEOUT_MS = 10 * 60_000;
/** Keep-alive connections of the child idle longer than this are closed (not while a request is upstream). */
const IDLE_TIMEOUT_S = 30;

/** Request headers not sent on: the child's credentials (the secret), hop-by-hop headers, our framing. */
const DROP_REQUEST = new Set(["host", "authorization", "x-api-key", "cookie", "connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "accept-encoding"]);
/** Response headers not relayed (hop-by-hop; the body is re-framed here). */
const DROP_RESPONSE = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "trailer", "upgrade"]);

export interface ForwarderOptions {
  /** The tenant's URL (https://<slug>.proxy.<domain>): requests go to the same path under it. */
  tenantUrl: string;
  /** A fresh access token for one request (refreshing under the profile lock when needed). */
  accessToken(): Promise<string>;
  /** Sends a request to the tenant and resolves with its response headers; the body streams. */
  send(url: string, init: RequestInit): Promise<Response>;
  /** Says something on stderr (a token that could not be had). */
  say(line: string): void;
  /** The uid owning a loopback client socket, or null when unknown (tests inject it). */
  peerUid?: (peer: PeerAddress, serverPort: number) => number | null;
  /** Uids whose processes may use it (default: this process's and root's). */
  allowedUids?: number[];
}

export interface Forwarder {
  /** http://127.0.0.1:<port>: the child's base URL is this + /anthropic/v1. */
  origin: string;
  /** What the child sends as its token; accepted here only. */
  secret: string;
  /** Stops listening and ends what is in flight (the child has ended). */
  close(): void;
}

/** An Anthropic-shaped error answer (what SDKs and Claude Code show). */
function apiError(status: number, type: string, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ type: "error", error: { type, message: `agent-runner-auth exec --keep-fresh: ${message}` } }, { status, headers });
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/** The secret from Authorization: Bearer or x-api-key, compared in constant time (hashes: equal lengths). */
function carriesSecret(request: Request, secretDigest: Buffer): boolean {
  const bearer = request.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
  const presented = bearer ?? request.headers.get("x-api-key");
  return presented !== null && presented !== undefined && timingSafeEqual(digest(presented), secretDigest);
}

function splitTarget(url: string): { path: string; search: string } {
  const afterOrigin = url.indexOf("/", url.indexOf("//") + 2);
  const target = afterOrigin === -1 ? "/" : url.slice(afterOrigin);
  const q = target.indexOf("?");
  return q === -1 ? { path: target, search: "" } : { path: target.slice(0, q), search: target.slice(q) };
}

export function startForwarder(options: ForwarderOptions): Forwarder {
  const secret = `ara-local-${randomBytes(32).toString("base64url")}`;
  const secretDigest = digest(secret);
  const tenant = options.tenantUrl.replace(/\/+$/, "");
  const peerUid = options.peerUid ?? loopbackPeerUid;
  const allowed = new Set(options.allowedUids ?? [process.getuid?.() ?? 0, 0]);
  let inFlight = 0;

  async function handle(request: Request, server: Server<undefined>): Promise<Response> {
    const peer = server.requestIP(request);
    const owner = peer ? peerUid({ address: peer.address, port: peer.port }, server.port!) : null;
    if (owner !== null && !allowed.has(owner)) return apiError(403, "permission_error", "this forwarder belongs to another user of this computer");
    if (!carriesSecret(request, secretDigest)) return apiError(401, "authentication_error", "send the ANTHROPIC_AUTH_TOKEN this command was given", { "www-authenticate": "Bearer" });
    const { path, search } = splitTarget(request.url);
    const decision = decideRoute(request.method, path, search);
    if (decision.kind === "reject") return apiError(decision.status, decision.status === 400 ? "invalid_request_error" : "not_found_error", decision.message);
    if (decision.kind === "probe") return new Response(null, { status: 200 });
    if (inFlight >= MAX_IN_FLIGHT) return apiError(529, "overloaded_error", `more than ${MAX_IN_FLIGHT} requests at once`, { "retry-after": "1" });

    // counted until the answer has been relayed to its end (or given up)
    inFlight++;
    server.timeout(request, 0); // a quiet stream is not an idle connection
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight--;
      try {
        server.timeout(request, IDLE_TIMEOUT_S);
      } catch {
        // the child has hung up: nothing to limit
      }
    };
    let token: string;
    try {
      token = await options.accessToken();
    } catch (e) {
      release();
      const message = e instanceof CliError ? e.message : String((e as Error)?.message ?? e);
      options.say(`agent-runner-auth: exec --keep-fresh: no fresh access token for a request of the command: ${sanitizeForTerminal(message)}`);
      const auth = e instanceof CliError && e.exitCode === ExitCode.authRequired;
      return apiError(auth ? 401 : 502, auth ? "authentication_error" : "api_error", `no fresh access token: ${message}`);
    }
    return relay(request, `${tenant}${path}${decision.search}`, token, release);
  }

  /** Sends the request on with the token, and the answer back as it arrives; `release` when it has ended. */
  async function relay(request: Request, url: string, token: string, release: () => void): Promise<Response> {
    const headers = new Headers(request.headers);
    for (const name of DROP_REQUEST) headers.delete(name);
    headers.set("authorization", `Bearer ${token}`);
    headers.set("accept-encoding", "identity"); // passed through as sent: never re-encoded here
    // No total deadline (a stream may run for many minutes), but the headers must come in time;
    // the child hanging up aborts the request upstream.
    const headersDeadline = new AbortController();
    const timer = setTimeout(() => headersDeadline.abort(new DOMException(`no answer within ${UPSTREAM_HEADERS_TIMEOUT_MS / 1000} s`, "TimeoutError")), UPSTREAM_HEADERS_TIMEOUT_MS);
    let upstream: Response;
    try {
      upstream = await options.send(url, {
        method: request.method,
        headers,
        body: request.body,
        redirect: "manual",
        signal: AbortSignal.any([request.signal, headersDeadline.signal]),
        // @ts-expect-error Bun-specific: request bodies stream without buffering; no client timeout.
        duplex: "half",
        timeout: false,
      });
    } catch (e) {
      release();
      const why = headersDeadline.signal.aborted ? String((headersDeadline.signal.reason as Error).message) : sanitizeForTerminal(String((e as Error)?.message ?? e));
      return apiError(502, "api_error", `the tenant's gateway could not be reached: ${why}`);
    } finally {
      clearTimeout(timer);
    }
    const responseHeaders = new Headers(upstream.headers);
    for (const name of DROP_RESPONSE) responseHeaders.delete(name);
    if (!upstream.body || request.method === "HEAD") {
      release();
      return new Response(null, { status: upstream.status, headers: responseHeaders });
    }
    const reader = upstream.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else controller.enqueue(value);
        } catch (e) {
          release();
          controller.error(e);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: upstream.status, headers: responseHeaders });
  }

  let server: Server<undefined>;
  try {
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, maxRequestBodySize: MAX_REQUEST_BODY_BYTES, idleTimeout: IDLE_TIMEOUT_S, fetch: handle });
  } catch (e) {
    throw new CliError(ExitCode.config, `exec --keep-fresh: cannot listen on 127.0.0.1: ${(e as Error).message}`, undefined, { cause: e });
  }
  return {
    origin: `http://127.0.0.1:${server.port}`,
    secret,
    close: () => void server.stop(true),
  };
}
