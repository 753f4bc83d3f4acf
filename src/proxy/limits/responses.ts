/**
 * Budget and rate-limit decisions as the answers Claude Code understands.
 * - Rate limit: 429 `rate_limit_error` with `retry-after` and `anthropic-ratelimit-*` headers
 *   describing the gateway's own windows (Claude Code waits and retries).
 * - Budget used up (nothing left, or this request alone is larger than the whole budget):
 *   403 `permission_error` naming the budget and when it resets; waiting minutes would not help,
 *   and Claude Code shows a 403 at once instead of retrying.
 * - Budget held by requests in flight (something is left but less than this request may cost):
 *   429 `rate_limit_error` with `retry-after: 5`, since it frees up as they settle.
 * Soft budgets only warn: `x-agent-runner-budget-warning` header and a log field.
 */
import type { BudgetStatus, RateDecision, RateWindow, Subject } from "../state/types.ts";

export const BUDGET_WARNING_HEADER = "x-agent-runner-budget-warning";
export const BUDGET_BUSY_RETRY_SECONDS = 5;

const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");

export function subjectLabel(s: Subject, you?: string): string {
  if (s.kind === "tenant") return "the tenant's";
  if (s.kind === "group") return `group ${s.id}'s`;
  return you ? "your" : `user ${s.id}'s`;
}

/** Who a window limits, as the object of "for": you, group eng, the tenant. */
function whom(s: Subject): string {
  return s.kind === "tenant" ? "the tenant" : s.kind === "group" ? `group ${s.id}` : "you";
}

function amount(unit: "usd" | "tokens", n: number): string {
  return unit === "usd" ? `$${(n / 1e6).toFixed(2)}` : `${n} tokens`;
}

export function describeBudget(status: BudgetStatus): string {
  const b = status.budget;
  return `${subjectLabel(b.subject, "you")} ${b.period === "day" ? "daily" : "monthly"} budget of ${amount(b.unit, b.limit)} (${amount(b.unit, status.used)} used, resets ${iso(status.resetsAt)})`;
}

/** The headers the Anthropic API sends, here for the gateway's most constrained window of each kind. */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {};
  const first = (kind: RateWindow["kind"]) => decision.windows.find((w) => w.kind === kind);
  for (const [kind, name] of [["requests", "requests"], ["tokens", "tokens"]] as const) {
    const w = first(kind);
    if (!w) continue;
    headers[`anthropic-ratelimit-${name}-limit`] = String(w.limit);
    headers[`anthropic-ratelimit-${name}-remaining`] = String(w.remaining);
    headers[`anthropic-ratelimit-${name}-reset`] = iso(w.resetAt);
  }
  return headers;
}

export type Refusal = { status: 403 | 429; type: "permission_error" | "rate_limit_error"; reason: string; message: string; headers: Record<string, string> };

export function rateLimitRefusal(decision: RateDecision): Refusal {
  const w = decision.refusedBy as RateWindow;
  const seconds = Math.max(1, Math.ceil((decision.retryAfterMs ?? 1000) / 1000));
  return {
    status: 429,
    type: "rate_limit_error",
    reason: "rate_limited",
    message: `the gateway's rate limit of ${w.limit} ${w.kind === "requests" ? "requests" : "tokens"} per minute for ${whom(w.subject)} is reached; retry in ${seconds} s`,
    headers: { ...rateLimitHeaders(decision), "retry-after": String(seconds) },
  };
}

export function budgetRefusal(status: BudgetStatus, estimate: { microUsd: number; tokens: number }, now: number): Refusal {
  const need = status.budget.unit === "usd" ? estimate.microUsd : estimate.tokens;
  const usedUp = status.remaining <= 0 || need > status.budget.limit;
  if (usedUp) {
    return {
      status: 403,
      type: "permission_error",
      reason: "budget_exhausted",
      message: `${describeBudget(status)} is used up${need > status.budget.limit ? " for a request this large (lower max_tokens)" : ""}; ask an administrator to raise it, or wait until it resets`,
      headers: {},
    };
  }
  return {
    status: 429,
    type: "rate_limit_error",
    reason: "budget_held",
    message: `${describeBudget(status)} has ${amount(status.budget.unit, status.remaining)} left, less than this request may cost (${amount(status.budget.unit, need)}) while other requests are in flight; retry shortly or lower max_tokens`,
    headers: { "retry-after": String(Math.min(BUDGET_BUSY_RETRY_SECONDS, Math.max(1, Math.ceil((status.resetsAt - now) / 1000)))) },
  };
}

export function budgetWarning(warnings: BudgetStatus[]): string | undefined {
  // a header value: printable ASCII only (group names come from the IdP)
  return warnings.length === 0 ? undefined : warnings.map((w) => `${describeBudget(w)} is exceeded`).join("; ").replace(/[^\x20-\x7e]/g, "?");
}
