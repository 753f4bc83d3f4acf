/**
 * What the usage commands print: aligned tables for a terminal, CSV passed through, JSON, the
 * self-service view and its one-line form for Claude Code's status line. Pure functions; every
 * string from the gateway (names, groups, models, dates) is sanitised here, whatever its source.
 */
import { jsonForTerminal, sanitizeForTerminal } from "../terminal-text.ts";
import type { BudgetStatus, MyUsage, Subject, UsageDimension, UsageFigures, UsageReportRow } from "../../shared/gateway-api.ts";

const MAX_CELL = 48;

/** One untrusted cell: one line, escapes visible, at most MAX_CELL characters. */
export function cell(text: string): string {
  const safe = sanitizeForTerminal(text);
  return safe.length > MAX_CELL ? `${safe.slice(0, MAX_CELL - 1)}…` : safe;
}

export const formatInt = (n: number): string => Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** Dollars: cents from $1, four decimals below (a day of light use is a few cents). */
export const formatUsd = (n: number): string => (n === 0 || Math.abs(n) >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`);

/** 950, 12.3k, 4.5M: for the status line. */
export function compact(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)}M`;
}

/** Columns aligned with two spaces; `right` marks numeric columns. Cells must be sanitised already. */
export function renderTable(headers: string[], rows: string[][], right: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

const FIGURE_HEADERS = ["REQUESTS", "INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "COST"];

function figureCells(f: UsageFigures): string[] {
  return [formatInt(f.requests), formatInt(f.input_tokens), formatInt(f.output_tokens), formatInt(f.cache_creation_input_tokens), formatInt(f.cache_read_input_tokens), formatUsd(f.cost_usd) + (f.unpriced_requests > 0 ? "*" : "")];
}

const UNPRICED_NOTE = (n: number) => `* ${formatInt(n)} request${n === 1 ? "" : "s"} of models without a price: their tokens are counted, their cost is not.\n`;

function sum(rows: UsageFigures[]): UsageFigures {
  const total: UsageFigures = { requests: 0, input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_creation_5m_input_tokens: 0, cache_creation_1h_input_tokens: 0, cache_read_input_tokens: 0, web_search_requests: 0, cost_usd: 0, unpriced_requests: 0 };
  for (const r of rows) for (const k of Object.keys(total) as (keyof UsageFigures)[]) total[k] += r[k];
  return total;
}

/** The admin usage report as a table, with a total (except by group: a request counts under each of its groups). */
export function renderUsageReport(rows: UsageReportRow[], by: UsageDimension): string {
  if (rows.length === 0) return "No usage in this period.\n";
  const keyCell = (r: UsageReportRow) => (r.key === "" && by === "group" ? "(no group)" : r.key === "" && by === "upstream" ? "(before pools)" : cell(r.key));
  const body = rows.map((r) => [keyCell(r), ...figureCells(r)]);
  const total = sum(rows);
  if (by !== "group") body.push(["TOTAL", ...figureCells(total)]);
  const right = [false, ...FIGURE_HEADERS.map(() => true)];
  return renderTable([by.toUpperCase(), ...FIGURE_HEADERS], body, right) + (total.unpriced_requests > 0 ? UNPRICED_NOTE(total.unpriced_requests) : "");
}

/**
 * CSV as the gateway sent it, made inert for a terminal: records stay CRLF-separated; any other
 * control or bidi character (a hostile display name) is shown as a visible escape.
 */
export function csvForOutput(csv: string): string {
  return csv
    .split("\r\n")
    .map((line) => sanitizeForTerminal(line))
    .join("\r\n");
}

export const jsonOutput = (value: unknown): string => jsonForTerminal(value) + "\n";

function whose(s: Subject): string {
  if ("user" in s) return "your";
  if ("group" in s) return `group ${cell(s.group)}'s`;
  return "the tenant's";
}

function amount(unit: BudgetStatus["unit"], n: number): string {
  return unit === "usd" ? formatUsd(n) : `${compact(n)} tokens`;
}

/** "2026-11-30T00:00:00.000Z" -> "2026-11-30 00:00 UTC" (or the sanitised text if it is not a date). */
export function whenUtc(iso: string): string {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC` : cell(iso);
}

export function describeBudget(b: BudgetStatus): string {
  const kind = b.period === "day" ? "daily" : "monthly";
  const left = b.remaining <= 0 && !b.soft ? "used up" : `${amount(b.unit, Math.max(0, b.remaining))} left`;
  return `${whose(b.subject)} ${kind} budget${b.soft ? " (soft)" : ""}: ${left} of ${amount(b.unit, b.limit)}, resets ${whenUtc(b.resets_at)}`;
}

/** `agent-runner-auth usage`: today, this month, and each budget with what is left. */
export function renderMyUsage(u: MyUsage): string {
  const groups = u.groups.length > 0 ? ` (groups: ${u.groups.map(cell).join(", ")})` : "";
  const table = renderTable(["", ...FIGURE_HEADERS], [[`today ${cell(u.today.day)}`, ...figureCells(u.today)], [`month ${cell(u.month.month)}`, ...figureCells(u.month)]], [false, ...FIGURE_HEADERS.map(() => true)]);
  const unpriced = u.month.unpriced_requests > 0 ? UNPRICED_NOTE(u.month.unpriced_requests) : "";
  const budgets = u.budgets.length === 0 ? "No budget applies to you.\n" : `Budgets:\n${u.budgets.map((b) => `  ${describeBudget(b)}\n`).join("")}`;
  return `Usage of ${cell(u.user)}${groups} at the gateway:\n${table}${unpriced}${budgets}`;
}

/** The budget to show on one line: a used-up hard one, else the one with the least left in proportion. */
export function tightestBudget(budgets: BudgetStatus[]): BudgetStatus | undefined {
  const share = (b: BudgetStatus) => (b.limit > 0 ? b.remaining / b.limit : 0);
  return [...budgets].sort((a, b) => Number(a.soft) - Number(b.soft) || share(a) - share(b))[0];
}

/** The status line: "$0.14 today · $3.20 this month · $4.86 of $5.00 left today". One line, sanitised, short. */
export function statusLineFor(u: MyUsage, note?: string): string {
  const cost = (f: UsageFigures) => formatUsd(f.cost_usd) + (f.unpriced_requests > 0 ? "+" : "");
  const parts = [`${cost(u.today)} today`, `${cost(u.month)} this month`];
  const b = tightestBudget(u.budgets);
  if (b) {
    const period = b.period === "day" ? "today" : "this month";
    parts.push(b.remaining <= 0 && !b.soft ? `budget used up ${period} (resets ${whenUtc(b.resets_at)})` : `${amount(b.unit, Math.max(0, b.remaining))} of ${amount(b.unit, b.limit)} left ${period}`);
  }
  return parts.join(" · ") + (note ? ` ${note}` : "");
}
