/**
 * The tenant gateway's own API (docs/proxy.md, "Endpoints outside /anthropic/"), which the
 * gateway serves and the CLI calls: its paths, the JSON it answers (`…Json` types: the gateway
 * builds its answers against them), and the parsers that check an answer before the CLI uses it:
 * a gateway of another version or a hostile one gets a clear `bad_response`, never a crash or an
 * `undefined` on the screen. Strings stay untrusted: rendering sanitises them.
 *
 * One module, as for the tenant discovery document (tenant-discovery.ts), so both sides agree.
 */

/** Everything under this prefix is the gateway's own, never forwarded upstream. */
export const GATEWAY_PREFIX = "/_gateway/";
/** POST: the caller's own session denylisted until its token expires. */
export const LOGOUT_PATH = "/_gateway/v1/logout";
/** GET: the caller's use today and this month, and their budgets. */
export const ME_USAGE_PATH = "/_gateway/v1/me/usage";
/** GET: whether the caller's access token is still accepted (the CLI asks before handing a token out again). */
export const SESSION_PATH = "/_gateway/v1/session";

/** The answer of SESSION_PATH while the token is accepted (a refusal is the API's 401). */
export interface SessionAnswerJson {
  active: true;
  expires_at: string;
}
/** The admin API: `ADMIN_PATH + resource`. */
export const ADMIN_PATH = "/_gateway/admin/v1/";
export const ADMIN_RESOURCES = ["usage", "budgets", "limits", "revocations", "audit", "policy", "policy/explain"] as const;
export type AdminResource = (typeof ADMIN_RESOURCES)[number];

/** The members the gateway adds to the tenant discovery document's `agent_runner_auth`, so the CLI finds them without configuration. */
export interface GatewayEndpointsJson {
  logout_endpoint: string;
  usage_endpoint: string;
}

export function gatewayEndpointsJson(base: string): GatewayEndpointsJson {
  return { logout_endpoint: `${base}${LOGOUT_PATH}`, usage_endpoint: `${base}${ME_USAGE_PATH}` };
}

export class ShapeError extends Error {
  override readonly name = "ShapeError";
  readonly code = "bad_shape";
}

type Obj = Record<string, unknown>;

function obj(value: unknown, where: string): Obj {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ShapeError(`${where} is not an object`);
  return value as Obj;
}

function arr(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new ShapeError(`${where} is not an array`);
  return value;
}

function num(o: Obj, key: string, where: string, fallback?: number): number {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ShapeError(`${where}.${key} is not a number`);
  return v;
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new ShapeError(`${where}.${key} is not a string`);
  return v;
}

function optStr(o: Obj, key: string, where: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, where);
}

export interface UsageFigures {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_creation_5m_input_tokens: number;
  cache_creation_1h_input_tokens: number;
  cache_read_input_tokens: number;
  web_search_requests: number;
  cost_usd: number;
  unpriced_requests: number;
}

export function usageFigures(value: unknown, where: string): UsageFigures {
  const o = obj(value, where);
  return {
    requests: num(o, "requests", where),
    input_tokens: num(o, "input_tokens", where),
    output_tokens: num(o, "output_tokens", where),
    cache_creation_input_tokens: num(o, "cache_creation_input_tokens", where),
    cache_creation_5m_input_tokens: num(o, "cache_creation_5m_input_tokens", where, 0),
    cache_creation_1h_input_tokens: num(o, "cache_creation_1h_input_tokens", where, 0),
    cache_read_input_tokens: num(o, "cache_read_input_tokens", where),
    web_search_requests: num(o, "web_search_requests", where, 0),
    cost_usd: num(o, "cost_usd", where),
    unpriced_requests: num(o, "unpriced_requests", where, 0),
  };
}

/** What a `user` value is, when the admin says so (`--kind`); otherwise any of them. */
export type UserKind = "sub" | "username" | "email";

/** Whom a budget or a limit applies to. `user` is a username, email or sub (or only `kind`). */
export type Subject = { user: string; kind?: UserKind } | { group: string } | { tenant: true };

/** A subject as the gateway answers it: flat in its object (`{ "group": "eng", "period": … }`). */
export type SubjectJson = { user: string } | { group: string } | { tenant: true };

function subject(o: Obj, where: string): Subject {
  if (typeof o.user === "string") return { user: o.user };
  if (typeof o.group === "string") return { group: o.group };
  if (o.tenant === true) return { tenant: true };
  throw new ShapeError(`${where} names no user, group or tenant`);
}

export type Period = "day" | "month";
export type BudgetUnit = "usd" | "tokens";

function period(o: Obj, where: string): Period {
  const p = o.period;
  if (p !== "day" && p !== "month") throw new ShapeError(`${where}.period is not day or month`);
  return p;
}

function unit(o: Obj, where: string): BudgetUnit {
  const u = o.unit;
  if (u !== "usd" && u !== "tokens") throw new ShapeError(`${where}.unit is not usd or tokens`);
  return u;
}

export interface BudgetStatus {
  subject: Subject;
  period: Period;
  unit: BudgetUnit;
  soft: boolean;
  limit: number;
  used: number;
  remaining: number;
  resets_at: string;
}

/** A budget with its use in the current period, as `me/usage` answers it (amounts in dollars or tokens). */
export type BudgetStatusJson = SubjectJson & { period: Period; unit: BudgetUnit; soft: boolean; limit: number; used: number; remaining: number; resets_at: string };

/** GET me/usage. */
export interface MyUsageJson {
  user: string;
  sub: string;
  groups: readonly string[];
  today: UsageFigures & { day: string };
  month: UsageFigures & { month: string };
  budgets: BudgetStatusJson[];
}

export interface MyUsage {
  user: string;
  sub: string;
  groups: string[];
  today: UsageFigures & { day: string };
  month: UsageFigures & { month: string };
  budgets: BudgetStatus[];
}

export function parseMyUsage(value: unknown): MyUsage {
  const o = obj(value, "usage");
  const today = obj(o.today, "usage.today");
  const month = obj(o.month, "usage.month");
  return {
    user: str(o, "user", "usage"),
    sub: str(o, "sub", "usage"),
    groups: arr(o.groups, "usage.groups").map((g, i) => {
      if (typeof g !== "string") throw new ShapeError(`usage.groups[${i}] is not a string`);
      return g;
    }),
    today: { day: str(today, "day", "usage.today"), ...usageFigures(today, "usage.today") },
    month: { month: str(month, "month", "usage.month"), ...usageFigures(month, "usage.month") },
    budgets: arr(o.budgets, "usage.budgets").map((b, i) => {
      const where = `usage.budgets[${i}]`;
      const x = obj(b, where);
      return { subject: subject(x, where), period: period(x, where), unit: unit(x, where), soft: x.soft === true, limit: num(x, "limit", where), used: num(x, "used", where), remaining: num(x, "remaining", where), resets_at: str(x, "resets_at", where) };
    }),
  };
}

/** The gateway's own form of a MyUsage (budget subjects flat), so parseMyUsage reads it back (the status-line cache). */
export function myUsageToWire(u: MyUsage): MyUsageJson {
  const flat = (s: Subject): SubjectJson => ("user" in s ? { user: s.user } : "group" in s ? { group: s.group } : { tenant: true });
  return { ...u, budgets: u.budgets.map(({ subject, ...rest }) => ({ ...flat(subject), ...rest })) };
}

export type UsageDimension = "user" | "group" | "model" | "day" | "upstream";

export const USAGE_DIMENSIONS: readonly UsageDimension[] = ["user", "group", "model", "day", "upstream"];

/** One row of the admin usage report as answered: by=user `{ user: display name, sub }`, else `{ <by>: key }`, then the figures. */
export type UsageRowJson = UsageFigures & Record<string, string | number>;

/** One row of the admin usage report: `key` is the user's display name, the group, model or day. */
export interface UsageReportRow extends UsageFigures {
  key: string;
  /** by=user only. */
  sub?: string;
}

export function parseUsageReport(value: unknown, by: UsageDimension): UsageReportRow[] {
  return arr(value, "usage report").map((r, i) => {
    const where = `usage report[${i}]`;
    const o = obj(r, where);
    const sub = by === "user" ? optStr(o, "sub", where) : undefined;
    return { key: str(o, by, where), ...(sub !== undefined ? { sub } : {}), ...usageFigures(o, where) };
  });
}

/** POST logout's answer (also its parsed form). */
export interface LogoutAnswer {
  revoked: string;
  until: string;
}

export function parseLogout(value: unknown): LogoutAnswer {
  const o = obj(value, "logout");
  return { revoked: str(o, "revoked", "logout"), until: str(o, "until", "logout") };
}

/** A budget as the admin API answers it: `limit` in dollars or tokens. */
export type BudgetJson = SubjectJson & { period: Period; unit: BudgetUnit; limit: number; soft: boolean };

export interface Budget {
  subject: Subject;
  period: Period;
  unit: BudgetUnit;
  limit: number;
  soft: boolean;
}

export function parseBudget(value: unknown, where = "budget"): Budget {
  const o = obj(value, where);
  return { subject: subject(o, where), period: period(o, where), unit: unit(o, where), limit: num(o, "limit", where), soft: o.soft === true };
}

export const parseBudgetAnswer = (value: unknown): Budget & Matched => ({ ...parseBudget(value), ...parseMatched(value, "budget") });

export const parseBudgets = (value: unknown): Budget[] => arr(value, "budgets").map((b, i) => parseBudget(b, `budgets[${i}]`));

/** A rate limit as the admin API answers it. */
export type LimitJson = SubjectJson & { rpm?: number; tpm?: number };

export interface RateLimit {
  subject: Subject;
  rpm?: number;
  tpm?: number;
}

export function parseLimit(value: unknown, where = "limit"): RateLimit {
  const o = obj(value, where);
  return { subject: subject(o, where), ...(o.rpm !== undefined ? { rpm: num(o, "rpm", where) } : {}), ...(o.tpm !== undefined ? { tpm: num(o, "tpm", where) } : {}) };
}

export const parseLimitAnswer = (value: unknown): RateLimit & Matched => ({ ...parseLimit(value), ...parseMatched(value, "limit") });

export const parseLimits = (value: unknown): RateLimit[] => arr(value, "limits").map((l, i) => parseLimit(l, `limits[${i}]`));

/** `user`: whoever has the value as sub, username or e-mail; `origin_jti`: one sign-in. */
export type RevocationKind = UserKind | "user" | "origin_jti";
const REVOCATION_KINDS: readonly string[] = ["user", "sub", "username", "email", "origin_jti"];

/** A revocation as the admin API answers it (also its parsed form); times are ISO 8601. */
export interface Revocation {
  kind: RevocationKind;
  value: string;
  at: string;
  until: string;
  by?: string;
  reason?: string;
}

export function parseRevocation(value: unknown, where = "revocation"): Revocation {
  const o = obj(value, where);
  const kind = o.kind;
  if (typeof kind !== "string" || !REVOCATION_KINDS.includes(kind)) throw new ShapeError(`${where}.kind is not user, sub, username, email or origin_jti`);
  const by = optStr(o, "by", where);
  const reason = optStr(o, "reason", where);
  return { kind: kind as RevocationKind, value: str(o, "value", where), at: str(o, "at", where), until: str(o, "until", where), ...(by !== undefined ? { by } : {}), ...(reason !== undefined ? { reason } : {}) };
}

/** A person seen, as the gateway answers an operation on a `user` value. */
export interface SeenPersonJson {
  sub: string;
  username?: string;
  email?: string;
  display_name: string;
  matched_by: UserKind[];
  first_seen: string;
  last_seen: string;
}

/** Whom an operation on a `user` value matched (absent for a group or the tenant); `note` when nobody. */
export interface MatchedJson {
  matched?: SeenPersonJson[];
  note?: string;
}

/** POST revocations: the revocation asked for, whom it matched, and every revocation stored. */
export type RevokeJson = Revocation & MatchedJson & { revocations?: Revocation[] };

/** DELETE revocations. */
export interface RestoreJson extends MatchedJson {
  restored: boolean;
  kind: RevocationKind;
  value: string;
  lifted: Revocation[];
}

/** DELETE budgets or limits: how many were cleared. */
export type ClearedJson = { cleared: number } & MatchedJson;

/** A person the gateway has seen, as an answer about a `user` value names them. */
export interface SeenPerson {
  sub: string;
  username?: string;
  email?: string;
  display_name: string;
  /** Which of their identifiers the value is. */
  matched_by: UserKind[];
  last_seen?: string;
}

/**
 * Whom an admin operation on a `user` matched. `matched` absent: the gateway is older and does
 * not say (never read as "nobody"); `note`: the gateway's words when it matched nobody.
 */
export interface Matched {
  matched?: SeenPerson[];
  note?: string;
}

function seenPerson(value: unknown, where: string): SeenPerson {
  const o = obj(value, where);
  const username = optStr(o, "username", where);
  const email = optStr(o, "email", where);
  const lastSeen = optStr(o, "last_seen", where);
  const by = o.matched_by === undefined ? [] : arr(o.matched_by, `${where}.matched_by`);
  const matchedBy = by.filter((k): k is UserKind => k === "sub" || k === "username" || k === "email");
  return { sub: str(o, "sub", where), ...(username !== undefined ? { username } : {}), ...(email !== undefined ? { email } : {}), display_name: optStr(o, "display_name", where) ?? str(o, "sub", where), matched_by: matchedBy, ...(lastSeen !== undefined ? { last_seen: lastSeen } : {}) };
}

export function parseMatched(value: unknown, where = "answer"): Matched {
  const o = obj(value, where);
  const note = optStr(o, "note", where);
  return { ...(o.matched !== undefined ? { matched: arr(o.matched, `${where}.matched`).map((p, i) => seenPerson(p, `${where}.matched[${i}]`)) } : {}), ...(note !== undefined ? { note } : {}) };
}

/** The answer to a revocation: the one asked for, whom it matched, and every revocation stored (one by sub per person matched). */
export type RevokeAnswer = Revocation & Matched & { revocations?: Revocation[] };

export function parseRevokeAnswer(value: unknown): RevokeAnswer {
  const o = obj(value, "revocation");
  return { ...parseRevocation(o), ...parseMatched(o, "revocation"), ...(o.revocations !== undefined ? { revocations: arr(o.revocations, "revocation.revocations").map((r, i) => parseRevocation(r, `revocation.revocations[${i}]`)) } : {}) };
}

export const parseRevocations = (value: unknown): Revocation[] => arr(value, "revocations").map((r, i) => parseRevocation(r, `revocations[${i}]`));

export function parseCleared(value: unknown): { cleared: number } & Matched {
  return { cleared: num(obj(value, "answer"), "cleared", "answer"), ...parseMatched(value) };
}

export interface RestoreAnswer extends Matched {
  restored: boolean;
  kind: string;
  value: string;
  /** The revocations lifted (absent from an older gateway). */
  lifted?: Revocation[];
}

export function parseRestored(value: unknown): RestoreAnswer {
  const o = obj(value, "answer");
  if (typeof o.restored !== "boolean") throw new ShapeError("answer.restored is not a boolean");
  return {
    restored: o.restored,
    kind: str(o, "kind", "answer"),
    value: str(o, "value", "answer"),
    ...parseMatched(o),
    ...(o.lifted !== undefined ? { lifted: arr(o.lifted, "answer.lifted").map((r, i) => parseRevocation(r, `answer.lifted[${i}]`)) } : {}),
  };
}

/** GET `policy`: the tenant policy the answering replica enforces now (docs/policy.md); `hash` null when the tenant has none. */
export interface PolicyShowJson {
  hash: string | null;
  /** The file, or where the inline object was written. */
  origin: string | null;
  applied_at: string | null;
  /** Each group's rule as written (descriptions included), in policy order. */
  groups: Record<string, unknown>;
  default: unknown;
}

export function parsePolicyShow(value: unknown): PolicyShowJson {
  const o = obj(value, "policy");
  const nullable = (key: string) => (o[key] === null ? null : str(o, key, "policy"));
  return { hash: nullable("hash"), origin: nullable("origin"), applied_at: nullable("applied_at"), groups: obj(o.groups, "policy.groups"), default: o.default ?? null };
}

/** One rule a person gets, with where it comes from: `group <name>`, `default`, `admin API`, `gateway configuration`. */
export interface ExplainedBudgetJson {
  /** The policy member (`groups.contractors.budgets[0]`); absent for an admin API budget. */
  name?: string;
  source: string;
  period: Period;
  usd?: number;
  tokens?: number;
  soft: boolean;
  /** Whose spend it counts: `this person`, `the group (pool)`, `group <name>`, `the tenant`. */
  counts: string;
}

export interface ExplainedLimitJson {
  source: string;
  rpm?: number;
  tpm?: number;
  counts: string;
}

/** GET `policy/explain?user=U`: what a person gets, each rule with its source. */
export interface PolicyExplainJson {
  user: string;
  sub: string;
  /** Their `cognito:groups` when last seen; null when no sighting recorded them. */
  groups: string[] | null;
  policy_hash: string | null;
  /** The groups the policy lists that they are in, in policy order. */
  policy_groups: string[];
  default_applies: boolean;
  models: { pattern: string; source: string }[];
  budgets: ExplainedBudgetJson[];
  limits: ExplainedLimitJson[];
  last_seen: string;
}

const strings = (value: unknown, where: string): string[] =>
  arr(value, where).map((g, i) => {
    if (typeof g !== "string") throw new ShapeError(`${where}[${i}] is not a string`);
    return g;
  });

const optNum = (o: Obj, key: string, where: string) => (o[key] === undefined ? {} : { [key]: num(o, key, where) });

export function parsePolicyExplain(value: unknown): PolicyExplainJson {
  const o = obj(value, "explain");
  return {
    user: str(o, "user", "explain"),
    sub: str(o, "sub", "explain"),
    groups: o.groups === null ? null : strings(o.groups, "explain.groups"),
    policy_hash: o.policy_hash === null ? null : str(o, "policy_hash", "explain"),
    policy_groups: strings(o.policy_groups, "explain.policy_groups"),
    default_applies: o.default_applies === true,
    models: arr(o.models, "explain.models").map((m, i) => {
      const x = obj(m, `explain.models[${i}]`);
      return { pattern: str(x, "pattern", `explain.models[${i}]`), source: str(x, "source", `explain.models[${i}]`) };
    }),
    budgets: arr(o.budgets, "explain.budgets").map((b, i) => {
      const where = `explain.budgets[${i}]`;
      const x = obj(b, where);
      const name = optStr(x, "name", where);
      return { ...(name !== undefined ? { name } : {}), source: str(x, "source", where), period: period(x, where), ...optNum(x, "usd", where), ...optNum(x, "tokens", where), soft: x.soft === true, counts: str(x, "counts", where) };
    }),
    limits: arr(o.limits, "explain.limits").map((l, i) => {
      const where = `explain.limits[${i}]`;
      const x = obj(l, where);
      return { source: str(x, "source", where), ...optNum(x, "rpm", where), ...optNum(x, "tpm", where), counts: str(x, "counts", where) };
    }),
    last_seen: str(o, "last_seen", "explain"),
  };
}

/** One row of the audit log (GET ADMIN_PATH + "audit"?since=): who changed what, with the old and new values. */
export interface AuditRowJson {
  /** ISO 8601, UTC. */
  time: string;
  /** A person's display name, `admin key <8 hex>`, `directory` or `policy`. */
  actor: string;
  actor_sub?: string;
  /** `budget.set`, `budget.clear`, `limit.set`, `limit.clear`, `revoke`, `restore`, `policy.reload`, `directory.revoke`. */
  action: string;
  target: string;
  old: unknown;
  new: unknown;
  request_id?: string;
}

export function parseAuditRows(value: unknown): AuditRowJson[] {
  return arr(value, "audit").map((r, i) => {
    const where = `audit[${i}]`;
    const o = obj(r, where);
    const actorSub = optStr(o, "actor_sub", where);
    const requestId = optStr(o, "request_id", where);
    return { time: str(o, "time", where), actor: str(o, "actor", where), ...(actorSub !== undefined ? { actor_sub: actorSub } : {}), action: str(o, "action", where), target: str(o, "target", where), old: o.old ?? null, new: o.new ?? null, ...(requestId !== undefined ? { request_id: requestId } : {}) };
  });
}
