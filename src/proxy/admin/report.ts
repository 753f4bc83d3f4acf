/** Usage rows as the admin API and `me/usage` show them: snake_case JSON, or CSV for finance. */
import type { UsageDimension, UsageRow } from "../model/usage.ts";
import type { UsageFigures, UsageRowJson } from "../../shared/gateway-api.ts";

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

/** RFC 4180 fields; a leading =, +, - or @ is quoted with a ' so a spreadsheet does not run it. */
function csvField(v: string | number): string {
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function usageCsv(by: UsageDimension, rows: UsageRowJson[]): string {
  const columns = [...(by === "user" ? ["user", "sub"] : [by]), ...USAGE_COLUMNS];
  return [columns.join(","), ...rows.map((r) => columns.map((c) => csvField(r[c] ?? "")).join(","))].join("\r\n") + "\r\n";
}
