import { describe, expect, test } from "bun:test";
import type { Budget, BudgetStatus } from "../model/budgets.ts";
import type { RateDecision, RateWindow } from "../model/rate-windows.ts";
import { REASON_HEADER, refusalResponse } from "../http/errors.ts";
import { formatMicroUsd } from "../../shared/money.ts";
import { BUDGET_BUSY_RETRY_SECONDS, budgetRefusal, budgetWarning, describeBudget, rateLimitHeaders, rateLimitRefusal } from "./responses.ts";

const reset = Date.parse("2026-11-29T10:01:00Z");
const win = (kind: RateWindow["kind"], limit: number, remaining: number, subject: RateWindow["subject"] = { kind: "user", id: "alice" }): RateWindow => ({ subject, kind, limit, remaining, resetAt: reset });
const budget = (over: Partial<Budget> = {}): Budget => ({ tenant: "acme", subject: { kind: "user", id: "alice" }, period: "day", unit: "usd", limit: 5_000_000, soft: false, ...over });
const status = (b: Budget, used: number, held = 0): BudgetStatus => ({ budget: b, used, held, remaining: Math.max(0, b.limit - used), resetsAt: Date.parse("2026-11-30T00:00:00Z") });

describe("rate limits", () => {
  test("anthropic-ratelimit-* headers describe the most constrained window of each kind", () => {
    const decision: RateDecision = { allowed: true, windows: [win("requests", 60, 3), win("tokens", 400_000, 1000), win("requests", 3000, 2000, { kind: "tenant", id: "*" })] };
    expect(rateLimitHeaders(decision)).toEqual({
      "anthropic-ratelimit-requests-limit": "60",
      "anthropic-ratelimit-requests-remaining": "3",
      "anthropic-ratelimit-requests-reset": "2026-11-29T10:01:00Z",
      "anthropic-ratelimit-tokens-limit": "400000",
      "anthropic-ratelimit-tokens-remaining": "1000",
      "anthropic-ratelimit-tokens-reset": "2026-11-29T10:01:00Z",
    });
    expect(rateLimitHeaders({ allowed: true, windows: [] })).toEqual({});
  });

  test("a refusal is 429 rate_limit_error with retry-after in whole seconds (at least 1) and a message naming the limit", () => {
    const refusedBy = win("requests", 60, 0);
    const r = rateLimitRefusal({ allowed: false, windows: [refusedBy], refusedBy, retryAfterMs: 2300 });
    expect(r).toMatchObject({ status: 429, type: "rate_limit_error", code: "rate_limited" });
    expect(r.headers["retry-after"]).toBe("3");
    expect(r.headers["anthropic-ratelimit-requests-remaining"]).toBe("0");
    expect(r.message).toBe("the gateway's rate limit of 60 requests per minute for you is reached; retry in 3 s");
    expect(rateLimitRefusal({ allowed: false, windows: [refusedBy], refusedBy, retryAfterMs: 10 }).headers["retry-after"]).toBe("1");
    const group = win("tokens", 1000, 0, { kind: "group", id: "eng" });
    expect(rateLimitRefusal({ allowed: false, windows: [group], refusedBy: group, retryAfterMs: 1000 }).message).toContain("1000 tokens per minute for group eng is reached");
    const tenant = win("requests", 3000, 0, { kind: "tenant", id: "*" });
    expect(rateLimitRefusal({ allowed: false, windows: [tenant], refusedBy: tenant, retryAfterMs: 1000 }).message).toContain("3000 requests per minute for the tenant is reached");
  });
});

describe("amounts", () => {
  test("precise enough to be true: 4 significant digits unless whole cents", () => {
    expect([0, 5_000_000, 5_010_000, 900, 1_100, 12_340, 5_013_400, 123_456_000, 1].map(formatMicroUsd)).toEqual(["$0.00", "$5.00", "$5.01", "$0.0009000", "$0.001100", "$0.01234", "$5.013", "$123.46", "$0.000001000"]);
  });
});

describe("budgets", () => {
  const noon = Date.parse("2026-11-29T12:00:00Z");

  test("used up: 403 permission_error (budget_exhausted) naming the budget, what was used and when it resets; no retry-after", () => {
    const r = budgetRefusal(status(budget(), 5_010_000), { microUsd: 1000, tokens: 10 }, noon);
    expect(r).toMatchObject({ status: 403, type: "permission_error", code: "budget_exhausted", headers: {} });
    expect(r.message).toBe("your daily budget of $5.00 is used up ($5.01 used, resets 2026-11-30T00:00:00Z); ask an administrator to raise it, or wait until it resets");
  });

  test("the issue's case: $0.0011 of $0.002 spent, nothing in flight, a request estimated above what is left: 403 with true amounts, never 429", () => {
    const r = budgetRefusal(status(budget({ subject: { kind: "group", id: "eng" }, limit: 2_000 }), 1_100), { microUsd: 1_500, tokens: 10 }, noon);
    expect(r).toMatchObject({ status: 403, type: "permission_error", code: "budget_exhausted" });
    expect(r.message).toBe("group eng's daily budget of $0.002000 has $0.0009000 left ($0.001100 used, resets 2026-11-30T00:00:00Z), less than this request may cost ($0.001500); lower max_tokens, ask an administrator to raise it, or wait until it resets");
    const response = refusalResponse(r, "req_1");
    expect(response.status).toBe(403);
    expect(response.headers.get(REASON_HEADER)).toBe("budget_exhausted");
  });

  test("a request larger than the whole budget is refused at once, with advice to lower max_tokens", () => {
    const r = budgetRefusal(status(budget({ subject: { kind: "group", id: "eng" }, period: "month", unit: "tokens", limit: 1000 }), 0), { microUsd: 1, tokens: 5000 }, 0);
    expect(r.status).toBe(403);
    expect(r.message).toContain("group eng's monthly budget of 1000 tokens is smaller than this request may cost (5000 tokens; 1000 tokens left");
    expect(r.message).toContain("lower max_tokens");
  });

  test("held by requests in flight (it fits once they end): 429 budget_held with retry-after 5 (or less when the period resets sooner)", () => {
    // $4.90 used of which $0.50 held by requests in flight: $0.10 left now, $0.60 once they end
    const held = status(budget({ subject: { kind: "tenant", id: "*" } }), 4_900_000, 500_000);
    const r = budgetRefusal(held, { microUsd: 200_000, tokens: 10 }, noon);
    expect(r).toMatchObject({ status: 429, type: "rate_limit_error", code: "budget_held", headers: { "retry-after": String(BUDGET_BUSY_RETRY_SECONDS) } });
    expect(r.message).toContain("the tenant's daily budget of $5.00");
    expect(r.message).toContain("has $0.10 left while requests in flight hold $0.50, less than this request may cost ($0.20); retry shortly");
    expect(budgetRefusal(held, { microUsd: 200_000, tokens: 10 }, Date.parse("2026-11-29T23:59:58Z")).headers["retry-after"]).toBe("2");
  });

  test("something in flight but the request would not fit even without it: 403, not 429", () => {
    const r = budgetRefusal(status(budget(), 4_900_000, 50_000), { microUsd: 200_000, tokens: 10 }, noon);
    expect(r.code).toBe("budget_exhausted");
    expect(r.message).toContain("has $0.15 left ($4.85 used");
  });

  test("soft budgets warn in one printable-ASCII header value; none exceeded: no header", () => {
    expect(budgetWarning([])).toBeUndefined();
    const w = budgetWarning([status(budget({ soft: true }), 6_000_000), status(budget({ soft: true, subject: { kind: "group", id: "ingénieurs" }, unit: "tokens", limit: 10 }), 12)]);
    expect(w).toBe("your daily budget of $5.00 ($6.00 used, resets 2026-11-30T00:00:00Z) is exceeded; group ing?nieurs's daily budget of 10 tokens (12 tokens used, resets 2026-11-30T00:00:00Z) is exceeded");
    expect(describeBudget(status(budget({ subject: { kind: "user", id: "bob" } }), 0))).toStartWith("your daily budget");
  });
});
