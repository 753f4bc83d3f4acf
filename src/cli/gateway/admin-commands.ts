/**
 * `agent-runner-auth admin …` and `usage` as data and pure functions, for whatever command layer
 * runs them: option tables (the OptionSpec shape of args.ts, so --help and the man page render
 * them), parsing of the parsed arguments into a typed request (usage errors, exit 2, before any
 * network), running a request against an AdminClient, and rendering its outcome.
 *
 * Forms (issue 13 §5; more options welcome):
 *   admin usage [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by user|group|model|day|upstream] [--json|--csv]
 *   admin budget set (--user U [--kind K] | --group G | --tenant) --period day|month (--usd N | --tokens N) [--soft]
 *   admin budget clear (--user U [--kind K] | --group G | --tenant) --period day|month [--unit usd|tokens]
 *   admin budget list
 *   admin limit set (--user U [--kind K] | --group G | --tenant) [--rpm N] [--tpm N]
 *   admin limit clear (--user U [--kind K] | --group G | --tenant)
 *   admin limit list
 *   admin revoke (--user U [--kind sub|username|email] | --session ORIGIN_JTI) [--reason TEXT]
 *   admin restore (--user U [--kind …] | --session ORIGIN_JTI)
 *   admin revocations
 *   admin audit [--since YYYY-MM-DD] [--json|--csv]
 *   usage [--json | --status-line]
 * Every admin command also takes --admin-key-file FILE and --json.
 * A `--user` value matches the person by sub, username or e-mail (the gateway resolves it against
 * the people it has seen); `--kind sub|username|email` says which one it is. What the gateway
 * matched is printed as it answered: nothing is confirmed that did not happen.
 */
import type { ParsedArgs } from "../args.ts";
import { formatMicroUsd } from "../../shared/money.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";
import { usageError } from "../errors.ts";
import type { AdminClient, BudgetSelector, BudgetSetting, LimitSetting, RevocationTarget, UsageQuery, UsageReport } from "./client.ts";
import { csvField } from "../../shared/csv.ts";
import { type AuditRowJson, type Budget, type Matched, type MyUsage, type RateLimit, type RestoreAnswer, type Revocation, type RevokeAnswer, type SeenPerson, type Subject, USAGE_DIMENSIONS, type UsageDimension, type UserKind } from "../../shared/gateway-api.ts";
export { ADMIN_KEY_FILE_OPTION, GATEWAY_COMMANDS, gatewayCommand, type GatewayCommandSpec } from "./command-specs.ts";
import { renderPolicyExplain, renderPolicyShow } from "../policy/view.ts";
import type { PolicyExplainJson, PolicyShowJson } from "../../shared/gateway-api.ts";
import { cell, csvForOutput, jsonOutput, renderMyUsage, renderTable, renderUsageReport, whenUtc } from "./usage-view.ts";


// ---- parsing (pure; usage errors, exit 2) ----

export type AdminRequest =
  | { op: "usage"; query: UsageQuery; output: "table" | "json" | "csv" }
  | { op: "budget-set"; budget: BudgetSetting; json: boolean }
  | { op: "budget-clear"; selector: BudgetSelector; json: boolean }
  | { op: "budget-list"; json: boolean }
  | { op: "limit-set"; limit: LimitSetting; json: boolean }
  | { op: "limit-clear"; subject: Subject; json: boolean }
  | { op: "limit-list"; json: boolean }
  | { op: "revoke"; target: RevocationTarget; json: boolean }
  | { op: "restore"; target: RevocationTarget; json: boolean }
  | { op: "revocations"; json: boolean }
  | { op: "audit"; since?: string; output: "table" | "json" | "csv" }
  | { op: "policy-show"; json: boolean }
  | { op: "policy-explain"; user: string; kind?: UserKind; json: boolean };

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A real calendar day written YYYY-MM-DD (2026-02-30 is refused, not rolled over). */
export function parseDay(option: string, text: string): string {
  const m = DAY.exec(text);
  const date = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!date || date.toISOString().slice(0, 10) !== text) throw usageError(`--${option} must be a day written YYYY-MM-DD, got "${cell(text)}"`);
  return text;
}

/** A name from the command line: non-empty, at most 256 characters, no control characters. */
function name(option: string, text: string): string {
  if (text.trim() === "" || text.length > 256 || /[\u0000-\u001f\u007f-\u009f]/.test(text)) throw usageError(`--${option} must be a name of 1 to 256 printable characters, got "${cell(text)}"`);
  return text;
}

function wholeNumber(option: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw usageError(`--${option} must be a whole number, got "${cell(text)}"`);
  return n;
}

function dollars(option: string, text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d{1,6})?$/.test(text) || !Number.isFinite(n) || n > 1e9) throw usageError(`--${option} must be an amount in US dollars like 5 or 12.50, got "${cell(text)}"`);
  return n;
}

function userKindOf(args: ParsedArgs): UserKind | undefined {
  const kind = args.values.kind;
  if (kind === undefined) return undefined;
  if (args.values.user === undefined || (kind !== "sub" && kind !== "username" && kind !== "email")) throw usageError("--kind is sub, username or email, and goes with --user");
  return kind;
}

function subjectOf(args: ParsedArgs): Subject {
  const given = [args.values.user !== undefined, args.values.group !== undefined, args.flags.tenant === true].filter(Boolean).length;
  if (given !== 1) throw usageError("name exactly one of --user U, --group G or --tenant");
  const kind = userKindOf(args);
  if (args.values.user !== undefined) return { user: name("user", args.values.user), ...(kind ? { kind } : {}) };
  if (args.values.group !== undefined) return { group: name("group", args.values.group) };
  return { tenant: true };
}

function periodOf(args: ParsedArgs): "day" | "month" {
  const p = args.values.period;
  if (p !== "day" && p !== "month") throw usageError(p === undefined ? "--period day|month is required" : `--period must be day or month, got "${cell(p)}"`);
  return p;
}

function targetOf(args: ParsedArgs, withReason: boolean): RevocationTarget {
  const { user, session, reason } = args.values;
  if ((user === undefined) === (session === undefined)) throw usageError("name exactly one of --user U or --session ORIGIN_JTI");
  const kind = userKindOf(args);
  if (reason !== undefined && (!withReason || reason.length > 500)) throw usageError("--reason is at most 500 characters, and only for revoke");
  const extra = withReason && reason !== undefined ? { reason: name("reason", reason) } : {};
  if (session !== undefined) {
    if (!/^[\x21-\x7e]{1,256}$/.test(session)) throw usageError(`--session must be an origin_jti (printable, no spaces), got "${cell(session)}"`);
    return { session, ...extra };
  }
  return { user: name("user", user as string), ...(kind ? { kind } : {}), ...extra };
}

/** Turns parsed arguments of `admin <path…>` into a request; `path` is what follows `admin`. */
export function parseAdminCommand(path: string[], args: ParsedArgs): AdminRequest {
  const json = args.flags.json === true;
  const key = path.join(" ");
  switch (key) {
    case "usage": {
      if (args.flags.json && args.flags.csv) throw usageError("choose one of --json or --csv");
      const by = args.values.by ?? "user";
      if (!(USAGE_DIMENSIONS as readonly string[]).includes(by)) throw usageError(`--by must be user, group, model, day or upstream, got "${cell(by)}"`);
      const since = args.values.since !== undefined ? parseDay("since", args.values.since) : undefined;
      const until = args.values.until !== undefined ? parseDay("until", args.values.until) : undefined;
      if (since && until && since > until) throw usageError(`--since ${since} is after --until ${until}`);
      const output = args.flags.csv ? "csv" : json ? "json" : "table";
      return { op: "usage", output, query: { ...(since ? { since } : {}), ...(until ? { until } : {}), by: by as UsageDimension, format: output === "csv" ? "csv" : "json" } };
    }
    case "budget set": {
      const { usd, tokens } = args.values;
      if ((usd === undefined) === (tokens === undefined)) throw usageError("give exactly one of --usd N or --tokens N");
      const amount = usd !== undefined ? { usd: dollars("usd", usd) } : { tokens: wholeNumber("tokens", tokens as string) };
      return { op: "budget-set", json, budget: { subject: subjectOf(args), period: periodOf(args), soft: args.flags.soft === true, ...amount } };
    }
    case "budget clear": {
      const unit = args.values.unit;
      if (unit !== undefined && unit !== "usd" && unit !== "tokens") throw usageError(`--unit must be usd or tokens, got "${cell(unit)}"`);
      return { op: "budget-clear", json, selector: { subject: subjectOf(args), period: periodOf(args), ...(unit ? { unit } : {}) } };
    }
    case "budget list":
      return { op: "budget-list", json };
    case "limit set": {
      const rpm = args.values.rpm !== undefined ? wholeNumber("rpm", args.values.rpm) : undefined;
      const tpm = args.values.tpm !== undefined ? wholeNumber("tpm", args.values.tpm) : undefined;
      if (rpm === undefined && tpm === undefined) throw usageError("give --rpm N, --tpm N or both");
      return { op: "limit-set", json, limit: { subject: subjectOf(args), ...(rpm !== undefined ? { rpm } : {}), ...(tpm !== undefined ? { tpm } : {}) } };
    }
    case "limit clear":
      return { op: "limit-clear", json, subject: subjectOf(args) };
    case "limit list":
      return { op: "limit-list", json };
    case "revoke":
      return { op: "revoke", json, target: targetOf(args, true) };
    case "restore":
      return { op: "restore", json, target: targetOf(args, false) };
    case "revocations":
      return { op: "revocations", json };
    case "audit": {
      if (args.flags.json && args.flags.csv) throw usageError("choose one of --json or --csv");
      const since = args.values.since !== undefined ? parseDay("since", args.values.since) : undefined;
      return { op: "audit", output: args.flags.csv ? "csv" : json ? "json" : "table", ...(since ? { since } : {}) };
    }
    case "policy show":
      return { op: "policy-show", json };
    case "policy explain": {
      const target = targetOf(args, false);
      if (!("user" in target)) throw usageError("give --user U: agent-runner-auth admin policy explain --user U");
      return { op: "policy-explain", json, user: target.user, ...(target.kind ? { kind: target.kind } : {}) };
    }
    default:
      throw usageError(`unknown command 'admin ${cell(key)}'`, "See: agent-runner-auth admin --help");
  }
}

export type UsageCommandRequest = { output: "view" | "json" | "status-line" };

export function parseUsageCommand(args: ParsedArgs): UsageCommandRequest {
  if (args.flags.json && args.flags["status-line"]) throw usageError("choose one of --json or --status-line");
  return { output: args.flags["status-line"] ? "status-line" : args.flags.json ? "json" : "view" };
}

// ---- running and rendering ----

export type AdminOutcome =
  | { op: "usage"; report: UsageReport }
  | { op: "budget-set"; budget: Budget & Matched }
  | { op: "budget-clear" | "limit-clear"; cleared: number; matched: Matched }
  | { op: "budget-list"; budgets: Budget[] }
  | { op: "limit-set"; limit: RateLimit & Matched }
  | { op: "limit-list"; limits: RateLimit[] }
  | { op: "revoke"; revocation: RevokeAnswer }
  | { op: "restore"; answer: RestoreAnswer }
  | { op: "revocations"; revocations: Revocation[] }
  | { op: "audit"; rows: AuditRowJson[] }
  | { op: "policy-show"; policy: PolicyShowJson }
  | { op: "policy-explain"; explained: PolicyExplainJson };

export async function runAdmin(client: AdminClient, r: AdminRequest): Promise<AdminOutcome> {
  switch (r.op) {
    case "usage":
      return { op: "usage", report: await client.usage(r.query) };
    case "budget-set":
      return { op: "budget-set", budget: await client.setBudget(r.budget) };
    case "budget-clear": {
      const { cleared, ...matched } = await client.clearBudget(r.selector);
      return { op: "budget-clear", cleared, matched };
    }
    case "budget-list":
      return { op: "budget-list", budgets: await client.listBudgets() };
    case "limit-set":
      return { op: "limit-set", limit: await client.setLimit(r.limit) };
    case "limit-clear": {
      const { cleared, ...matched } = await client.clearLimit(r.subject);
      return { op: "limit-clear", cleared, matched };
    }
    case "limit-list":
      return { op: "limit-list", limits: await client.listLimits() };
    case "revoke":
      return { op: "revoke", revocation: await client.revoke(r.target) };
    case "restore":
      return { op: "restore", answer: await client.restore(r.target) };
    case "revocations":
      return { op: "revocations", revocations: await client.listRevocations() };
    case "audit":
      return { op: "audit", rows: await client.listAudit(r.since) };
    case "policy-show":
      return { op: "policy-show", policy: await client.showPolicy() };
    case "policy-explain":
      return { op: "policy-explain", explained: await client.explainPolicy(r.user, r.kind) };
  }
}

/** What to print: `stdout` is the data (table, JSON, CSV); `stderr` a confirmation for a person. */
export interface Rendered {
  stdout: string;
  stderr: string;
}

const subjectText = (s: Subject) => ("user" in s ? `user ${cell(s.user)}` : "group" in s ? `group ${cell(s.group)}` : "the tenant");

const KIND_WORDS: Record<UserKind, string> = { sub: "sub", username: "username", email: "e-mail" };

/** One person the gateway matched: their identifiers, and which one the value named. */
function personText(p: SeenPerson): string {
  const ids = [p.username !== undefined ? `username ${cell(p.username)}` : "", p.email !== undefined ? `e-mail ${cell(p.email)}` : "", `sub ${cell(p.sub)}`].filter(Boolean).join(", ");
  const by = p.matched_by.length > 0 ? `; matched by ${p.matched_by.map((k) => KIND_WORDS[k]).join(" and ")}` : "";
  return `  ${ids}${by}${p.last_seen ? `; last seen ${whenUtc(p.last_seen)}` : ""}\n`;
}

/** The gateway's own words: one line, inert, at most 500 characters. */
const noteText = (note: string) => sanitizeForTerminal(note).slice(0, 500);

/**
 * Whom an operation on a user matched, as the gateway said: the people, or its note that it has
 * seen nobody by that name; an older gateway that does not say is not read as "nobody".
 */
function matchedText(m: Matched, subject: Subject | undefined, nobody: string): string {
  if (subject !== undefined && !("user" in subject)) return "";
  if (m.matched === undefined) return ""; // an older gateway: it matched any identifier, and does not say whom
  if (m.matched.length === 0) return `${[m.note ? `${noteText(m.note)}.` : "No person seen by the gateway has that name.", nobody].filter(Boolean).join(" ")}\n`;
  return `It matches ${m.matched.length === 1 ? "1 person" : `${m.matched.length} people`} seen by the gateway:\n${m.matched.map(personText).join("")}`;
}

const revocationText = (r: Revocation) => `${r.kind === "user" ? "user (any of sub, username, e-mail)" : r.kind === "origin_jti" ? "session" : KIND_WORDS[r.kind]} ${cell(r.value)}`;
const budgetAmount = (b: Budget) => (b.unit === "usd" ? formatMicroUsd(Math.round(b.limit * 1e6)) : `${b.limit} tokens`);
const subjectJson = (s: Subject) => ("user" in s ? { user: s.user } : "group" in s ? { group: s.group } : { tenant: true });
const budgetJson = (b: Budget) => ({ ...subjectJson(b.subject), period: b.period, unit: b.unit, limit: b.limit, soft: b.soft });
const limitJson = (l: RateLimit) => ({ ...subjectJson(l.subject), ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) });

function revocationRows(list: Revocation[]): string {
  if (list.length === 0) return "No revocations in force.\n";
  return renderTable(["KIND", "VALUE", "SINCE", "UNTIL", "BY", "REASON"], list.map((r) => [r.kind, cell(r.value), whenUtc(r.at), whenUtc(r.until), cell(r.by ?? ""), cell(r.reason ?? "")]), [false, false, false, false, false, false]);
}

export function renderAdmin(r: AdminRequest, outcome: AdminOutcome): Rendered {
  const json = r.op === "usage" || r.op === "audit" ? r.output === "json" : r.json;
  const out = (stdout: string, stderr = ""): Rendered => ({ stdout, stderr });
  switch (outcome.op) {
    case "usage": {
      const report = outcome.report;
      if (report.format === "csv") return out(csvForOutput(report.csv));
      if (json) return out(jsonOutput(report.rows.map(({ key, ...rest }) => ({ [report.by]: key, ...rest }))));
      return out(renderUsageReport(report.rows, report.by));
    }
    case "budget-set": {
      const b = outcome.budget;
      if (json) return out(jsonOutput({ ...budgetJson(b), ...matchedJson(b) }));
      return out("", `Budget set: ${subjectText(b.subject)}, ${b.period === "day" ? "daily" : "monthly"}, ${budgetAmount(b)}${b.soft ? " (soft: warns, never refuses)" : ""}.\n${matchedText(b, b.subject, "It applies when they first appear.")}`);
    }
    case "budget-clear":
    case "limit-clear": {
      const what = outcome.op === "budget-clear" ? "budget" : "rate limit";
      const subject = r.op === "budget-clear" ? r.selector.subject : r.op === "limit-clear" ? r.subject : undefined;
      if (json) return out(jsonOutput({ cleared: outcome.cleared, ...matchedJson(outcome.matched) }));
      const said = subject && "user" in subject ? matchedText(outcome.matched, subject, "") : "";
      return out("", `${outcome.cleared > 0 ? `Cleared ${outcome.cleared} ${what}${outcome.cleared === 1 ? "" : "s"}.` : `No such ${what}: nothing cleared.`}\n${said}`);
    }
    case "budget-list":
      if (json) return out(jsonOutput(outcome.budgets.map(budgetJson)));
      return out(outcome.budgets.length === 0 ? "No budgets.\n" : renderTable(["SUBJECT", "PERIOD", "LIMIT", "KIND"], outcome.budgets.map((b) => [subjectText(b.subject), b.period, budgetAmount(b), b.soft ? "soft" : "hard"]), [false, false, true, false]));
    case "limit-set": {
      const l = outcome.limit;
      const parts = [l.rpm !== undefined ? `${l.rpm} requests/min` : "", l.tpm !== undefined ? `${l.tpm} tokens/min` : ""].filter(Boolean).join(", ");
      return json ? out(jsonOutput({ ...limitJson(l), ...matchedJson(l) })) : out("", `Rate limit set: ${subjectText(l.subject)}, ${parts}.\n${matchedText(l, l.subject, "It applies when they first appear.")}`);
    }
    case "limit-list":
      if (json) return out(jsonOutput(outcome.limits.map(limitJson)));
      return out(outcome.limits.length === 0 ? "No rate limits set (the tenant's defaults apply).\n" : renderTable(["SUBJECT", "RPM", "TPM"], outcome.limits.map((l) => [subjectText(l.subject), l.rpm !== undefined ? String(l.rpm) : "-", l.tpm !== undefined ? String(l.tpm) : "-"]), [false, true, true]));
    case "revoke": {
      const v = outcome.revocation;
      if (json) return out(jsonOutput(v));
      return out("", renderRevoked(v));
    }
    case "restore": {
      const a = outcome.answer;
      if (json) return out(jsonOutput(a));
      const target = r.op === "restore" ? r.target : undefined;
      const said = target && "user" in target ? matchedText(a, { user: target.user }, "") : "";
      if (!a.restored) return out("", `No revocation of ${cell(a.value)} was in force: nothing lifted.\n${said}`);
      const lifted = a.lifted ? `: lifted ${a.lifted.map(revocationText).join(", ")}` : "";
      return out("", `Restored ${cell(a.value)}${lifted}. Every replica lets them in again within about a second.\n${said}`);
    }
    case "revocations":
      return json ? out(jsonOutput(outcome.revocations)) : out(revocationRows(outcome.revocations));
    case "audit":
      if (json) return out(jsonOutput(outcome.rows));
      if (r.op === "audit" && r.output === "csv") return out(csvForOutput(auditCsv(outcome.rows)));
      return out(auditTable(outcome.rows));
    case "policy-show":
      return out(renderPolicyShow(outcome.policy, json));
    case "policy-explain":
      return out(renderPolicyExplain(outcome.explained, json));
  }
}

const AUDIT_COLUMNS = ["time", "actor", "actor_sub", "action", "target", "old", "new", "request_id"] as const;
/** A value of the audit as one cell: JSON for objects, empty for none. */
const auditValue = (v: unknown): string => (v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));

export function auditCsv(rows: AuditRowJson[]): string {
  return [AUDIT_COLUMNS.join(","), ...rows.map((row) => AUDIT_COLUMNS.map((c) => csvField(auditValue(row[c]))).join(","))].join("\r\n") + "\r\n";
}

function auditTable(rows: AuditRowJson[]): string {
  if (rows.length === 0) return "No audit rows.\n";
  return renderTable(["TIME", "ACTOR", "ACTION", "TARGET", "OLD", "NEW"], rows.map((a) => [whenUtc(a.time), cell(a.actor), cell(a.action), cell(a.target), cell(auditValue(a.old)), cell(auditValue(a.new))]), [false, false, false, false, false, false]);
}

const matchedJson = (m: Matched) => ({ ...(m.matched !== undefined ? { matched: m.matched } : {}), ...(m.note !== undefined ? { note: m.note } : {}) });

/** A revocation as the gateway answered it: for a person, whom it matched; for nobody seen, that it waits for them. */
function renderRevoked(v: RevokeAnswer): string {
  const until = whenUtc(v.until);
  if (v.kind === "origin_jti") return `Revoked session ${cell(v.value)} until ${until}: every replica refuses that sign-in's tokens within about a second.\n`;
  const what = revocationText(v);
  if (v.matched === undefined) return `Revoked ${what} until ${until}. The gateway does not say whom this matched (it runs an older version): check with 'agent-runner-auth admin revocations'.\n`;
  if (v.matched.length === 0) return `${v.note ? noteText(v.note) : `No token seen for ${cell(v.value)}; revoked anyway: it applies when they first appear`} (until ${until}).\n`;
  return `Revoked ${what} until ${until}. ${matchedText(v, undefined, "")}Every replica refuses their tokens within about a second.\n`;
}

/** `usage` (not --status-line): the view for a person, or the gateway's document as JSON. */
export function renderUsageCommand(u: MyUsage, output: "view" | "json"): string {
  return output === "json" ? jsonOutput(u) : renderMyUsage(u);
}
