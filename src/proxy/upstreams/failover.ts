/**
 * What one attempt's outcome means for the request and for the upstream's breaker. Only outcomes
 * known before any byte of the answer reached the client are judged here: the pool returns the
 * answer to the client after this decision and never looks back.
 *  - next upstream: the connection failed, no head came in time, or the upstream answered 429,
 *    500, 502, 503, 504 or 529 (its capacity, not the request), or 401/403: the gateway strips
 *    the client's credentials, so an upstream 401/403 is about this upstream's own key or
 *    account, and another upstream may well serve (the request path answers a last one as 502
 *    `upstream_auth`);
 *  - serve: anything else, 2xx and the client's own faults (400, 404, 413…) alike; the upstream
 *    is healthy;
 *  - stop: the client went away.
 */

export type AttemptOutcome =
  | { kind: "response"; status: number }
  /** The connection failed before the answer's head. */
  | { kind: "unreachable" }
  /** No head within the routing's timeout. */
  | { kind: "timeout" }
  /** The client went away during the attempt. */
  | { kind: "cancelled" };

/** Why an upstream failed an attempt: a bounded label for metrics and logs. */
export type FailureReason = "unreachable" | "timeout" | "upstream_auth" | "429" | "500" | "502" | "503" | "504" | "529";

export type Verdict = { readonly action: "serve" } | { readonly action: "next"; readonly reason: FailureReason } | { readonly action: "stop" };

/** The statuses that say "this upstream, now" rather than "this request". */
export const RETRIED_STATUSES: readonly number[] = [429, 500, 502, 503, 504, 529];
/** The upstream refused this gateway's own credentials. */
export const UPSTREAM_AUTH_STATUSES: readonly number[] = [401, 403];

// verdicts are shared constants: judging an attempt allocates nothing (it runs on every request)
const SERVE: Verdict = { action: "serve" };
const STOP: Verdict = { action: "stop" };
const NEXT = new Map<FailureReason, Verdict>(
  (["unreachable", "timeout", "upstream_auth", ...RETRIED_STATUSES.map(String)] as FailureReason[]).map((reason) => [reason, { action: "next", reason }]),
);

export function verdictOf(outcome: AttemptOutcome): Verdict {
  switch (outcome.kind) {
    case "cancelled":
      return STOP;
    case "unreachable":
    case "timeout":
      return NEXT.get(outcome.kind) as Verdict;
    case "response":
      if (RETRIED_STATUSES.includes(outcome.status)) return NEXT.get(String(outcome.status) as FailureReason) as Verdict;
      if (UPSTREAM_AUTH_STATUSES.includes(outcome.status)) return NEXT.get("upstream_auth") as Verdict;
      return SERVE;
  }
}
