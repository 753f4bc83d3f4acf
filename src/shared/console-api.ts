/**
 * The admin console's API: what the browser UI (src/proxy/console/ui) asks the gateway under
 * `/_gateway/console/api/` and what it gets back. One module for both sides, so the UI and the
 * server cannot disagree: the paths, the wire types (snake_case JSON, like the admin API; money in
 * whole micro-dollars, so a sum is exact, with USD derived for display), the parsers of every
 * query and body (the server refuses bad input with a `ConsoleInputError` naming the field),
 * and the date-range presets of the picker.
 *
 * Every GET needs the session cookie; every POST, PUT and DELETE also the CSRF token in
 * {@link CSRF_HEADER}. Days are UTC, `YYYY-MM-DD`, inclusive; a range is at most
 * {@link MAX_RANGE_DAYS} days.
 */

export const CONSOLE_BASE = "/_gateway/console/";
export const CONSOLE_API = "/_gateway/console/api/";
export const CONSOLE_LOGIN = "/_gateway/console/login";
export const CONSOLE_CALLBACK = "/_gateway/console/callback";
export const CSRF_HEADER = "x-csrf-token";
export const MAX_RANGE_DAYS = 400;
/** A table page; a CSV export may ask for up to {@link MAX_CSV_ROWS}. */
export const MAX_PAGE_ROWS = 500;
export const MAX_CSV_ROWS = 10_000;
export const MAX_SEARCH_LENGTH = 100;

/** The resources under {@link CONSOLE_API}: GET unless said. */
export const CONSOLE_ENDPOINTS = {
  session: "session",
  overview: "overview",
  people: "people",
  person: "person",
  groups: "groups",
  models: "models",
  /** GET; PUT sets one (API budgets only), DELETE clears one. */
  budgets: "budgets",
  /** PUT sets one, DELETE clears one (GET is part of `budgets`). */
  limits: "limits",
  audit: "audit",
  /** GET; POST revokes a person or a session; DELETE restores. */
  revocations: "revocations",
  /** POST: ends the console session. */
  logout: "logout",
} as const;
export type ConsoleEndpoint = (typeof CONSOLE_ENDPOINTS)[keyof typeof CONSOLE_ENDPOINTS];

// ---- wire types --------------------------------------------------------------------------------

export type IsoDay = string;

export interface DayRange {
  /** Inclusive UTC days. */
  from: IsoDay;
  to: IsoDay;
}

/** Usage summed over some requests. Cache writes: the 5-minute ones include writes of unstated TTL (the API's default). */
export interface Figures {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_write_5m_tokens: number;
  cache_write_1h_tokens: number;
  cache_read_tokens: number;
  cost_micro_usd: number;
  /** Requests of models without a price: their tokens count, their cost is not in cost_micro_usd. */
  unpriced_requests: number;
}

export const FIGURE_FIELDS = ["requests", "input_tokens", "output_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens", "cost_micro_usd", "unpriced_requests"] as const satisfies readonly (keyof Figures)[];

export const zeroFigures = (): Figures => ({ requests: 0, input_tokens: 0, output_tokens: 0, cache_write_5m_tokens: 0, cache_write_1h_tokens: 0, cache_read_tokens: 0, cost_micro_usd: 0, unpriced_requests: 0 });

/** Adds b into a (in place) and returns a. */
export function addFigures(a: Figures, b: Figures): Figures {
  for (const f of FIGURE_FIELDS) a[f] += b[f];
  return a;
}

/** The share of input tokens served from the cache: reads over all input (plain, cache writes, cache reads); 0 with no input. */
export function cacheShare(f: Figures): number {
  const input = f.input_tokens + f.cache_write_5m_tokens + f.cache_write_1h_tokens + f.cache_read_tokens;
  return input === 0 ? 0 : f.cache_read_tokens / input;
}

/** Every token a budget in tokens counts: input, output, cache writes and reads. */
export const totalTokens = (f: Figures) => f.input_tokens + f.output_tokens + f.cache_write_5m_tokens + f.cache_write_1h_tokens + f.cache_read_tokens;

/** Micro-dollars as a USD number (exact for display: the shortest decimal of micro / 1e6). */
export const usd = (micro: number) => micro / 1e6;

export type SubjectKind = "user" | "group" | "tenant";
export interface SubjectWire {
  kind: SubjectKind;
  /** The sub, username or email of a user; the group; "*" for the tenant. */
  id: string;
  /** How the console shows it (a user's display name when known). */
  label: string;
}

/** How far along a budget is in its current period. */
export interface Burn {
  period: "day" | "month";
  unit: "usd" | "tokens";
  /** Micro-dollars or tokens. */
  limit: number;
  used: number;
  /** used / limit (0 for a zero limit with nothing used; may exceed 1 for a soft budget). */
  fraction: number;
  soft: boolean;
}

export interface PersonSummary {
  sub: string;
  username?: string;
  email?: string;
  /** Email if known, else username, else sub. */
  name: string;
  groups: string[];
}

export interface PersonRow extends PersonSummary, Figures {
  /** The person's own budget that is burnt furthest (user budgets only; group budgets show on Groups). */
  budget: Burn | null;
}
export interface GroupRow extends Figures {
  group: string;
  budget: Burn | null;
}
export interface ModelRow extends Figures {
  model: string;
}

export type SortDir = "asc" | "desc";
/** Columns a table sorts by: its name column, a figure, or (people, groups) the budget burn. */
export const SORT_COLUMNS = ["name", "requests", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_micro_usd", "burn"] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];

export interface TablePage<Row> {
  range: DayRange;
  /** Rows matching the search, before paging. */
  total: number;
  offset: number;
  limit: number;
  sort: SortColumn;
  dir: SortDir;
  rows: Row[];
  /** Sum over every matching row (not only this page). */
  totals: Figures;
}

/** A stacked daily series: `values[m][d]` is model `models[m]` on day `days[d]`. */
export interface DailySeries {
  days: IsoDay[];
  models: string[];
  cost_micro_usd: number[][];
  requests: number[];
  /** Per model (as `models`): every one of its requests in the range had no price, so its $0 means "unpriced", not free. */
  unpriced: boolean[];
}

export interface Overview {
  range: DayRange;
  today: { day: IsoDay; figures: Figures };
  month: { month: string; figures: Figures };
  /** Last month whole, and up to the same day of the month as today (a fair comparison). */
  last_month: { month: string; figures: Figures; to_date: Figures };
  range_totals: Figures;
  /** {@link cacheShare} over the range. */
  cache_share: number;
  daily: DailySeries;
  top_people: PersonRow[];
  top_groups: GroupRow[];
  top_models: ModelRow[];
}

export type SettingSource = "api" | "policy";

export interface BudgetView {
  subject: SubjectWire;
  period: "day" | "month";
  unit: "usd" | "tokens";
  /** Micro-dollars or tokens. */
  limit: number;
  soft: boolean;
  /** `policy`: from the policy file, read-only here; `api`: set through the admin API or this console. */
  source: SettingSource;
  /** Settled use in the current period (requests in flight not included). */
  used: number;
  fraction: number;
  resets_at: string;
}

export interface LimitView {
  subject: SubjectWire;
  rpm: number | null;
  tpm: number | null;
  source: SettingSource;
}

export interface BudgetsAndLimits {
  budgets: BudgetView[];
  limits: LimitView[];
}

export interface RevocationView {
  kind: "user" | "sub" | "username" | "email" | "origin_jti";
  value: string;
  /** The person it names, when the gateway has seen them. */
  label: string;
  at: string;
  until: string;
  by: string | null;
  reason: string | null;
}

export interface SessionView {
  /** The sign-in's id (Cognito's origin_jti). */
  id: string;
  last_seen: string | null;
  revoked: boolean;
}

export interface PersonDetail {
  person: PersonSummary;
  range: DayRange;
  totals: Figures;
  by_model: ModelRow[];
  daily: DailySeries;
  /** Every budget and limit that applies to this person (their own, their groups', the tenant's). */
  budgets: BudgetView[];
  limits: LimitView[];
  /** null: the gateway does not keep this person's sign-ins. */
  sessions: SessionView[] | null;
  /** Revocations in force that name this person. */
  revocations: RevocationView[];
}

export interface AuditEntry {
  time: string;
  actor: string;
  action: string;
  target: string;
  detail: string;
}

export interface AuditPage {
  /** false until the gateway keeps an audit log: `entries` is then empty. */
  available: boolean;
  range: DayRange;
  total: number;
  offset: number;
  limit: number;
  entries: AuditEntry[];
}

export interface SessionInfo {
  tenant: string;
  user: PersonSummary;
  /** Send it back in {@link CSRF_HEADER} on every change. */
  csrf_token: string;
  /** When the console session ends unless used (ISO time). */
  expires_at: string;
  /** Today (UTC) by the gateway's clock: the date picker's reference. */
  today: IsoDay;
}

export type ConsoleErrorType = "unauthenticated" | "forbidden" | "bad_csrf" | "invalid_request" | "not_found" | "unavailable" | "internal";

export interface ConsoleErrorBody {
  error: { type: ConsoleErrorType; message: string };
  /** unauthenticated: where to sign in. */
  login?: string;
  /** forbidden: who is signed in and the groups that would admit them. */
  user?: PersonSummary;
  needed_groups?: string[];
  /** forbidden (the session endpoint): the token for signing out. */
  csrf_token?: string;
}

// ---- inputs ------------------------------------------------------------------------------------

export interface TableQuery {
  range: DayRange;
  /** Matches the name column (people: name, username, email, sub, groups), case-insensitive. */
  q: string;
  sort: SortColumn;
  dir: SortDir;
  offset: number;
  limit: number;
  format: "json" | "csv";
}

export interface BudgetInput {
  subject: { kind: SubjectKind; id: string };
  period: "day" | "month";
  unit: "usd" | "tokens";
  /** USD (may have cents) or whole tokens. */
  amount: number;
  soft: boolean;
}

export interface BudgetClear {
  subject: { kind: SubjectKind; id: string };
  period: "day" | "month";
  unit?: "usd" | "tokens";
}

export interface LimitInput {
  subject: { kind: SubjectKind; id: string };
  rpm: number | null;
  tpm: number | null;
}

export type RevocationInput = { user: string; reason?: string } | { session: string; reason?: string };
export interface RestoreInput {
  kind: RevocationView["kind"];
  value: string;
}

export interface AuditQuery {
  range: DayRange;
  offset: number;
  limit: number;
}

/** Bad input from the browser: the API answers 400 `invalid_request` with this message. */
export class ConsoleInputError extends Error {
  readonly code = "invalid_request";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

export const dayOf = (t: number): IsoDay => new Date(t).toISOString().slice(0, 10);
export const dayMs = (day: IsoDay) => Date.parse(`${day}T00:00:00Z`);
export const addDays = (day: IsoDay, n: number): IsoDay => dayOf(dayMs(day) + n * DAY_MS);
/** Days from `from` to `to`, both counted. */
export const rangeLength = (r: DayRange) => Math.round((dayMs(r.to) - dayMs(r.from)) / DAY_MS) + 1;

function isDay(v: string): boolean {
  if (!DAY_RE.test(v)) return false;
  const t = dayMs(v);
  return Number.isFinite(t) && dayOf(t) === v; // 2026-02-30 is not a day
}

export function checkRange(r: DayRange): DayRange {
  if (!isDay(r.from)) throw new ConsoleInputError("from", "from is a day, YYYY-MM-DD");
  if (!isDay(r.to)) throw new ConsoleInputError("to", "to is a day, YYYY-MM-DD");
  if (r.from > r.to) throw new ConsoleInputError("from", "from is after to");
  if (rangeLength(r) > MAX_RANGE_DAYS) throw new ConsoleInputError("from", `a range is at most ${MAX_RANGE_DAYS} days`);
  return r;
}

type Params = Pick<URLSearchParams, "get">;

/** `from` and `to` (default: this month to today). */
export function parseRange(params: Params, today: IsoDay): DayRange {
  return checkRange({ from: params.get("from") ?? `${today.slice(0, 7)}-01`, to: params.get("to") ?? today });
}

function intParam(params: Params, name: string, fallback: number, min: number, max: number): number {
  const raw = params.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new ConsoleInputError(name, `${name} is a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConsoleInputError(name, `${name} is from ${min} to ${max}`);
  return n;
}

export function parseTableQuery(params: Params, today: IsoDay, defaults: { sort: SortColumn; limit?: number } = { sort: "cost_micro_usd" }): TableQuery {
  const format = params.get("format") ?? "json";
  if (format !== "json" && format !== "csv") throw new ConsoleInputError("format", "format is json or csv");
  const sort = params.get("sort") ?? defaults.sort;
  if (!(SORT_COLUMNS as readonly string[]).includes(sort)) throw new ConsoleInputError("sort", `sort is one of ${SORT_COLUMNS.join(", ")}`);
  const dir = params.get("dir") ?? (sort === "name" ? "asc" : "desc");
  if (dir !== "asc" && dir !== "desc") throw new ConsoleInputError("dir", "dir is asc or desc");
  const q = params.get("q") ?? "";
  if (q.length > MAX_SEARCH_LENGTH) throw new ConsoleInputError("q", `the search is at most ${MAX_SEARCH_LENGTH} characters`);
  const maxRows = format === "csv" ? MAX_CSV_ROWS : MAX_PAGE_ROWS;
  return {
    range: parseRange(params, today),
    q: q.trim(),
    sort: sort as SortColumn,
    dir,
    offset: intParam(params, "offset", 0, 0, 1_000_000),
    limit: intParam(params, "limit", format === "csv" ? MAX_CSV_ROWS : (defaults.limit ?? 50), 1, maxRows),
    format,
  };
}

export function parseAuditQuery(params: Params, today: IsoDay): AuditQuery {
  return { range: parseRange(params, today), offset: intParam(params, "offset", 0, 0, 1_000_000), limit: intParam(params, "limit", 100, 1, MAX_PAGE_ROWS) };
}

const NAME_MAX = 256;

function subjectFrom(kind: unknown, id: unknown): { kind: SubjectKind; id: string } {
  if (kind === "tenant") return { kind, id: "*" };
  if (kind !== "user" && kind !== "group") throw new ConsoleInputError("kind", "kind is user, group or tenant");
  if (typeof id !== "string" || id.trim() === "" || id.length > NAME_MAX) throw new ConsoleInputError("id", `name the ${kind} (1 to ${NAME_MAX} characters)`);
  return { kind, id: id.trim() };
}

function periodFrom(v: unknown): "day" | "month" {
  if (v !== "day" && v !== "month") throw new ConsoleInputError("period", "period is day or month");
  return v;
}

function unitFrom(v: unknown): "usd" | "tokens" {
  if (v !== "usd" && v !== "tokens") throw new ConsoleInputError("unit", "unit is usd or tokens");
  return v;
}

function objectFrom(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ConsoleInputError("body", "the body is a JSON object");
  return body as Record<string, unknown>;
}

/** Largest amount a budget may have: a billion dollars, or a trillion tokens. */
const MAX_USD = 1e9;
const MAX_TOKENS = 1e12;

export function parseBudgetInput(body: unknown): BudgetInput {
  const b = objectFrom(body);
  const unit = unitFrom(b.unit);
  const amount = typeof b.amount === "string" && b.amount.trim() !== "" ? Number(b.amount) : b.amount;
  if (typeof amount !== "number" || !Number.isFinite(amount) || amount < 0) throw new ConsoleInputError("amount", "the amount is a number, 0 or more");
  if (unit === "usd" && (amount > MAX_USD || Math.abs(Math.round(amount * 1e6) - amount * 1e6) > 1e-3)) throw new ConsoleInputError("amount", `a USD amount is at most ${MAX_USD} with at most 6 decimals`);
  if (unit === "tokens" && (amount > MAX_TOKENS || !Number.isInteger(amount))) throw new ConsoleInputError("amount", `a token amount is a whole number up to ${MAX_TOKENS}`);
  if (b.soft !== undefined && typeof b.soft !== "boolean") throw new ConsoleInputError("soft", "soft is true or false");
  return { subject: subjectFrom(b.kind, b.id), period: periodFrom(b.period), unit, amount, soft: b.soft === true };
}

/** The budget's limit in its stored unit: micro-dollars or tokens. */
export const budgetLimitOf = (input: Pick<BudgetInput, "unit" | "amount">) => (input.unit === "usd" ? Math.round(input.amount * 1e6) : input.amount);

export function parseBudgetClear(params: Params): BudgetClear {
  const unit = params.get("unit");
  return { subject: subjectFrom(params.get("kind"), params.get("id")), period: periodFrom(params.get("period")), ...(unit !== null ? { unit: unitFrom(unit) } : {}) };
}

function rateFrom(v: unknown, name: string): number | null {
  if (v === undefined || v === null || v === "") return null;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) throw new ConsoleInputError(name, `${name} is a whole number, 1 or more`);
  return n;
}

export function parseLimitInput(body: unknown): LimitInput {
  const b = objectFrom(body);
  const rpm = rateFrom(b.rpm, "rpm");
  const tpm = rateFrom(b.tpm, "tpm");
  if (rpm === null && tpm === null) throw new ConsoleInputError("rpm", "give rpm, tpm or both");
  return { subject: subjectFrom(b.kind, b.id), rpm, tpm };
}

export function parseLimitClear(params: Params): { subject: { kind: SubjectKind; id: string } } {
  return { subject: subjectFrom(params.get("kind"), params.get("id")) };
}

export function parseRevocationInput(body: unknown): RevocationInput {
  const b = objectFrom(body);
  if ((b.user === undefined) === (b.session === undefined)) throw new ConsoleInputError("user", "name exactly one of user or session");
  const value = b.user ?? b.session;
  if (typeof value !== "string" || value.trim() === "" || value.length > NAME_MAX) throw new ConsoleInputError(b.user !== undefined ? "user" : "session", "name the user or session (1 to 256 characters)");
  if (b.reason !== undefined && typeof b.reason !== "string") throw new ConsoleInputError("reason", "the reason is text");
  const reason = typeof b.reason === "string" && b.reason.trim() !== "" ? { reason: b.reason.trim().slice(0, 500) } : {};
  return b.user !== undefined ? { user: value.trim(), ...reason } : { session: value.trim(), ...reason };
}

const REVOCATION_KINDS = ["user", "sub", "username", "email", "origin_jti"] as const;

export function parseRestore(params: Params): RestoreInput {
  const kind = params.get("kind");
  if (!(REVOCATION_KINDS as readonly (string | null)[]).includes(kind)) throw new ConsoleInputError("kind", `kind is one of ${REVOCATION_KINDS.join(", ")}`);
  const value = params.get("value");
  if (!value || value.length > NAME_MAX) throw new ConsoleInputError("value", "name the revoked value");
  return { kind: kind as RestoreInput["kind"], value };
}

/** The sub a person page is for (`?sub=`). */
export function parsePersonQuery(params: Params, today: IsoDay): { sub: string; range: DayRange } {
  const sub = params.get("sub");
  if (!sub || sub.length > NAME_MAX) throw new ConsoleInputError("sub", "name the person (sub)");
  return { sub, range: parseRange(params, today) };
}

/** The query string of a table request (the UI's side of parseTableQuery). */
export function tableSearch(q: Partial<TableQuery> & { range: DayRange }): string {
  const p = new URLSearchParams({ from: q.range.from, to: q.range.to });
  if (q.q) p.set("q", q.q);
  if (q.sort) p.set("sort", q.sort);
  if (q.dir) p.set("dir", q.dir);
  if (q.offset) p.set("offset", String(q.offset));
  if (q.limit) p.set("limit", String(q.limit));
  if (q.format === "csv") p.set("format", "csv");
  return p.toString();
}

// ---- the date-range picker ---------------------------------------------------------------------

export const RANGE_PRESETS = ["today", "7d", "30d", "month", "custom"] as const;
export type RangePreset = (typeof RANGE_PRESETS)[number];
export const PRESET_LABELS: Record<RangePreset, string> = { today: "Today", "7d": "Last 7 days", "30d": "Last 30 days", month: "This month", custom: "Custom" };

/** The range a preset means on `today`; custom keeps `custom` (checked). */
export function presetRange(preset: RangePreset, today: IsoDay, custom?: DayRange): DayRange {
  switch (preset) {
    case "today":
      return { from: today, to: today };
    case "7d":
      return { from: addDays(today, -6), to: today };
    case "30d":
      return { from: addDays(today, -29), to: today };
    case "month":
      return { from: `${today.slice(0, 7)}-01`, to: today };
    case "custom":
      return checkRange(custom ?? { from: today, to: today });
  }
}
