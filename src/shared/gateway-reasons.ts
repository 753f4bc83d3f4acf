/**
 * Why the tenant gateway refused a request, as it says in the `x-agent-runner-reason` response
 * header: one stable code per kind of refusal, so the CLI (and scripts) branch on the code, never
 * on the message. The gateway maps each to its HTTP status and Anthropic error type
 * (src/proxy/http/errors.ts); docs/proxy.md lists them.
 */

export const REASON_HEADER = "x-agent-runner-reason";

export const GATEWAY_REASONS = [
  "bad_host", "bad_forwarded_host", "bad_query", "bad_input",
  "token_missing", "token_invalid", "token_expired", "person_revoked", "session_revoked", "bad_admin_key",
  "group_required", "not_admin", "budget_exhausted", "model_not_allowed",
  "not_allowed", "ambiguous_path", "bad_model_id", "unknown_tenant", "bad_method",
  "body_too_large", "rate_limited", "budget_held",
  "internal", "upstream_auth", "upstream_unreachable", "upstream_failed", "state_unavailable",
] as const;

export type GatewayReason = (typeof GATEWAY_REASONS)[number];

/** The reason of a gateway answer, or undefined (another server, an older gateway, a success). */
export function gatewayReason(headers: Headers): GatewayReason | undefined {
  const value = headers.get(REASON_HEADER);
  return value !== null && (GATEWAY_REASONS as readonly string[]).includes(value) ? (value as GatewayReason) : undefined;
}
