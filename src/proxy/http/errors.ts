/**
 * Errors in the Anthropic API's shape, so Claude Code's retry and re-auth logic reads them right.
 *
 * Every answer the gateway gives itself, refusing a request, is a `GatewayRefusal` with a stable
 * `code`; the one table below (`REFUSALS`) maps each code to its HTTP status and Anthropic error
 * type, and the code is sent as `x-agent-runner-reason` so clients (the CLI, scripts) branch on
 * it, never on the message. The log line's `reject_reason` may be finer (which JWT check failed).
 */

import { StateError, StateUnavailable } from "../state/types.ts";
import { type GatewayReason, REASON_HEADER } from "../../shared/gateway-reasons.ts";

export { REASON_HEADER };

export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

/** Why the gateway refused; documented in docs/proxy.md ("Refusals"). Stable: clients read them. */
export const REFUSALS = {
  bad_host: { status: 400, type: "invalid_request_error" },
  bad_forwarded_host: { status: 400, type: "invalid_request_error" },
  bad_query: { status: 400, type: "invalid_request_error" },
  bad_input: { status: 400, type: "invalid_request_error" },
  /** No credential at all. */
  token_missing: { status: 401, type: "authentication_error" },
  /** Not a valid access token of this tenant (signature, issuer, client, token_use, kid…). */
  token_invalid: { status: 401, type: "authentication_error" },
  /** Expired (or not yet valid): the CLI gets a fresh one silently. */
  token_expired: { status: 401, type: "authentication_error" },
  /** An administrator withdrew the person's access: signing in again will not help. */
  person_revoked: { status: 401, type: "authentication_error" },
  /** This sign-in was ended (logout): signing in again will. */
  session_revoked: { status: 401, type: "authentication_error" },
  bad_admin_key: { status: 401, type: "authentication_error" },
  /** The person is in none of the groups the tenant admits. */
  group_required: { status: 403, type: "permission_error" },
  not_admin: { status: 403, type: "permission_error" },
  /** The tenant policy does not give this person the model asked for (docs/policy.md). */
  model_not_allowed: { status: 403, type: "permission_error" },
  /** A hard budget cannot fit this request even with nothing in flight: waiting will not help. */
  budget_exhausted: { status: 403, type: "permission_error" },
  not_allowed: { status: 404, type: "not_found_error" },
  ambiguous_path: { status: 404, type: "not_found_error" },
  bad_model_id: { status: 404, type: "not_found_error" },
  unknown_tenant: { status: 404, type: "not_found_error" },
  bad_method: { status: 405, type: "invalid_request_error" },
  body_too_large: { status: 413, type: "request_too_large" },
  rate_limited: { status: 429, type: "rate_limit_error" },
  /** A budget's room is held by requests in flight: it frees up as they end. */
  budget_held: { status: 429, type: "rate_limit_error" },
  internal: { status: 500, type: "api_error" },
  /** The upstream refused the tenant's own API key (401/403): the gateway's problem, not the person's. */
  upstream_auth: { status: 502, type: "api_error" },
  upstream_unreachable: { status: 502, type: "api_error" },
  upstream_failed: { status: 502, type: "api_error" },
  state_unavailable: { status: 503, type: "overloaded_error" },
} as const satisfies Record<GatewayReason, { status: number; type: AnthropicErrorType }>;

export type RefusalCode = GatewayReason;

/** A refusal the gateway gives itself: typed by `code`, answered through REFUSALS. */
export class GatewayRefusal extends Error {
  override readonly name = "GatewayRefusal";
  readonly headers: Record<string, string>;
  /** The log's `reject_reason` when finer than the code (e.g. `signature` for token_invalid). */
  readonly logReason: string;
  constructor(
    readonly code: RefusalCode,
    message: string,
    options: { headers?: Record<string, string>; logReason?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.headers = options.headers ?? {};
    this.logReason = options.logReason ?? code;
  }

  get status(): number {
    return REFUSALS[this.code].status;
  }

  get type(): AnthropicErrorType {
    return REFUSALS[this.code].type;
  }
}

export function anthropicError(status: number, type: AnthropicErrorType, message: string, requestId: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: "error", error: { type, message }, request_id: requestId }), {
    status,
    headers: { "content-type": "application/json", "request-id": requestId, ...headers },
  });
}

/** The refusal as the API's error, with its code in `x-agent-runner-reason`. */
export function refusalResponse(refusal: GatewayRefusal, requestId: string): Response {
  return anthropicError(refusal.status, refusal.type, refusal.message, requestId, { ...refusal.headers, [REASON_HEADER]: refusal.code });
}

/** Input the gateway's own endpoints refuse: answered 400 `bad_input` with its message. */
export class BadInput extends Error {
  override readonly name = "BadInput";
  readonly code = "bad_input";
}

/** 413; the rest of the body is not read, so the connection is closed rather than drained. */
export function bodyTooLarge(maxBytes: number): GatewayRefusal {
  return new GatewayRefusal("body_too_large", `the request body is larger than this proxy accepts (${maxBytes} bytes)`, { headers: { connection: "close" } });
}

/** Any error a request's handling threw, as the refusal that answers it (the state store down: 503; a bug: 500). */
export function refusalOf(e: unknown): GatewayRefusal {
  if (e instanceof GatewayRefusal) return e;
  // fail-closed: budgets, limits and revocations cannot be checked, so nothing is served
  if (e instanceof StateUnavailable) return new GatewayRefusal("state_unavailable", "the gateway cannot reach its state store (budgets, limits, revocations); retry shortly", { headers: { "retry-after": "2" }, cause: e });
  if (e instanceof BadInput || (e instanceof StateError && e.code === "STATE_INPUT")) return new GatewayRefusal("bad_input", e.message, { cause: e });
  return new GatewayRefusal("internal", `internal proxy error: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
