/**
 * Budget and rate-limit decisions as the answers Claude Code understands (GatewayRefusal, mapped
 * through the one table of http/errors.ts):
 * - Rate limit: 429 `rate_limit_error` (`rate_limited`) with `retry-after` (never more than the
 *   window) and `anthropic-ratelimit-*` headers describing the gateway's own windows (Claude Code
 *   waits and retries).
 * - A hard budget that cannot fit the request's estimate even with nothing in flight: 403
 *   `permission_error` (`budget_exhausted`) naming the budget, what is left and when it resets;
 *   waiting minutes would not help, and Claude Code shows a 403 at once instead of retrying.
 * - A budget whose room is held by requests in flight (it would fit once they end): 429
 *   `rate_limit_error` (`budget_held`) with `retry-after: 5`, since it frees up as they settle.
 * Amounts are shown precisely enough to be true (4 significant digits below a dollar).
 * Soft budgets only warn: `x-agent-runner-budget-warning` header and a log field.
 */
import { formatMicroUsd } from "../../shared/money.ts";
import { GatewayRefusal } from "../http/errors.ts";
import type { BudgetStatus } from "../model/budgets.ts";
import type { RateDecision, RateWindow } from "../model/rate-windows.ts";
import type { Subject } from "../model/subjects.ts";

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
  return unit === "usd" ? formatMicroUsd(n) : `${n} tokens`;
}

/** The budget by whom it counts and how much; a policy budget also by its member (`groups.contractors.budgets[0]`). */
function budgetName(b: BudgetStatus["budget"]): string {
  const name = `${subjectLabel(b.subject, "you")} ${b.period === "day" ? "daily" : "monthly"} budget of ${amount(b.unit, b.limit)}`;
  return b.policy ? `${name} (policy ${b.policy.name})` : name;
}

export function describeBudget(status: BudgetStatus): string {
  return `${budgetName(status.budget)} (${amount(status.budget.unit, status.used)} used, resets ${iso(status.resetsAt)})`;
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

/** The log and metric reason of a limit refusal is its code: rate_limited, budget_exhausted, budget_held. */
export function rateLimitRefusal(decision: RateDecision): GatewayRefusal {
  const w = decision.refusedBy as RateWindow;
  const seconds = Math.max(1, Math.ceil((decision.retryAfterMs ?? 1000) / 1000));
  return new GatewayRefusal("rate_limited", `the gateway's rate limit of ${w.limit} ${w.kind === "requests" ? "requests" : "tokens"} per minute for ${whom(w.subject)} is reached; retry in ${seconds} s`, {
    headers: { ...rateLimitHeaders(decision), "retry-after": String(seconds) },
  });
}

export function budgetRefusal(status: BudgetStatus, estimate: { microUsd: number; tokens: number }, now: number): GatewayRefusal {
  const b = status.budget;
  const need = b.unit === "usd" ? estimate.microUsd : estimate.tokens;
  const settled = status.used - status.held;
  const leftWhenIdle = Math.max(0, b.limit - settled);
  const name = budgetName(b);
  const resets = `resets ${iso(status.resetsAt)}`;
  if (need > leftWhenIdle) {
    // even with nothing in flight it cannot fit: retrying will not help
    const message =
      leftWhenIdle === 0
        ? `${name} is used up (${amount(b.unit, settled)} used, ${resets}); ask an administrator to raise it, or wait until it resets`
        : need > b.limit
          ? `${name} is smaller than this request may cost (${amount(b.unit, need)}; ${amount(b.unit, leftWhenIdle)} left, ${resets}); lower max_tokens, or ask an administrator to raise it`
          : `${name} has ${amount(b.unit, leftWhenIdle)} left (${amount(b.unit, settled)} used, ${resets}), less than this request may cost (${amount(b.unit, need)}); lower max_tokens, ask an administrator to raise it, or wait until it resets`;
    return new GatewayRefusal("budget_exhausted", message);
  }
  return new GatewayRefusal(
    "budget_held",
    `${name} has ${amount(b.unit, status.remaining)} left while requests in flight hold ${amount(b.unit, status.held)}, less than this request may cost (${amount(b.unit, need)}); retry shortly, as they finish (${resets})`,
    { headers: { "retry-after": String(Math.min(BUDGET_BUSY_RETRY_SECONDS, Math.max(1, Math.ceil((status.resetsAt - now) / 1000)))) } },
  );
}

export function budgetWarning(warnings: BudgetStatus[]): string | undefined {
  // a header value: printable ASCII only (group names come from the IdP)
  return warnings.length === 0 ? undefined : warnings.map((w) => `${describeBudget(w)} is exceeded`).join("; ").replace(/[^\x20-\x7e]/g, "?");
}
