/**
 * The domain as the gateway's own endpoints answer it (the JSON of src/shared/gateway-api.ts):
 * usage rows (snake_case JSON, or CSV for finance), subjects, budgets (with their use), limits.
 */
import { csvField } from "../../shared/csv.ts";
import type { Budget, BudgetStatus } from "../model/budgets.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import type { Subject } from "../model/subjects.ts";
import type { UsageDimension, UsageRow } from "../model/usage.ts";
import type { BudgetJson, BudgetStatusJson, LimitJson, SubjectJson, UsageFigures, UsageRowJson } from "../../shared/gateway-api.ts";

export const iso = (t: number) => new Date(t).toISOString();

/** The JSON answers of the gateway's own endpoints: never cached. */
export function jsonAnswer(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });
}

export function subjectJson(s: Subject): SubjectJson {
  return s.kind === "tenant" ? { tenant: true } : s.kind === "user" ? { user: s.id } : { group: s.id };
}

/** Amounts in dollars (the store keeps micro-dollars) or tokens. */
const amount = (b: Budget, n: number) => (b.unit === "usd" ? n / 1e6 : n);

export function budgetJson(b: Budget): BudgetJson {
  return { ...subjectJson(b.subject), period: b.period, unit: b.unit, limit: amount(b, b.limit), soft: b.soft };
}

export function budgetStatusJson(s: BudgetStatus): BudgetStatusJson {
  const b = s.budget;
  return { ...subjectJson(b.subject), period: b.period, unit: b.unit, soft: b.soft, limit: amount(b, b.limit), used: amount(b, s.used), remaining: amount(b, s.remaining), resets_at: iso(s.resetsAt) };
}

export function limitJson(l: Pick<RateLimit, "subject" | "rpm" | "tpm">): LimitJson {
  return { ...subjectJson(l.subject), ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) };
}

export const USAGE_COLUMNS: readonly (keyof UsageFigures)[] = [
  "requests", "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens",
  "cache_read_input_tokens", "web_search_requests", "cost_usd", "unpriced_requests",
];

export function usageFigures(row: UsageRow | undefined): UsageFigures {
  return {
    requests: row?.requests ?? 0,
    input_tokens: row?.inputTokens ?? 0,
    output_tokens: row?.outputTokens ?? 0,
    cache_creation_input_tokens: row?.cacheCreationInputTokens ?? 0,
    cache_creation_5m_input_tokens: row?.cacheCreation5mInputTokens ?? 0,
    cache_creation_1h_input_tokens: row?.cacheCreation1hInputTokens ?? 0,
    cache_read_input_tokens: row?.cacheReadInputTokens ?? 0,
    web_search_requests: row?.webSearchRequests ?? 0,
    cost_usd: (row?.costMicroUsd ?? 0) / 1e6,
    unpriced_requests: row?.unpricedRequests ?? 0,
  };
}

/** by=user rows: `user` is the display name (email or username) and `sub` the key; other dimensions name theirs. */
export function usageJson(by: UsageDimension, rows: UsageRow[]): UsageRowJson[] {
  return rows.map((row) => ({ ...(by === "user" ? { user: row.displayName ?? row.key, sub: row.key } : { [by]: row.key }), ...usageFigures(row) }));
}

export function usageCsv(by: UsageDimension, rows: UsageRowJson[]): string {
  const columns = [...(by === "user" ? ["user", "sub"] : [by]), ...USAGE_COLUMNS];
  return [columns.join(","), ...rows.map((r) => columns.map((c) => csvField(r[c] ?? "")).join(","))].join("\r\n") + "\r\n";
}
