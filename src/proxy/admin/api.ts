/**
 * The gateway's own endpoints, outside `/anthropic/`:
 *   POST /_gateway/v1/logout             the caller's own session denylisted until its token expires
 *   GET  /_gateway/v1/me/usage           the caller's use today and this month, and their budgets
 *   /_gateway/admin/v1/usage|budgets|limits|revocations   admins only (admin/auth.ts)
 * Shapes are documented in docs/proxy.md. Bad input is 400 `invalid_request_error`.
 */
import { sessionOf } from "../auth/person.ts";
import { CLOCK_SKEW_SECONDS } from "../auth/verify.ts";
import { activeUser } from "../http/active-user.ts";
import { GatewayRefusal } from "../http/errors.ts";
import type { ProxyContext, TenantRuntime } from "../http/context.ts";
import type { Budget, BudgetStatus } from "../model/budgets.ts";
import { dayKey, monthKey, type Period } from "../model/periods.ts";
import type { SeenPerson, UserKind } from "../model/person.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import type { Revocation } from "../model/revocations.ts";
import type { Subject } from "../model/subjects.ts";
import type { UsageDimension } from "../model/usage.ts";
import { StateError } from "../state/types.ts";
import { ADMIN_PATH, type BudgetJson, type BudgetStatusJson, type LimitJson, LOGOUT_PATH, ME_USAGE_PATH, type MyUsageJson, type SubjectJson } from "../../shared/gateway-api.ts";
import { authorizeAdmin } from "./auth.ts";
import { notSeenNote, personJson, restoreSession, restoreUser, revocationJson, revokeUser, settingIds, settingSubject, UnknownPerson, USER_KINDS, type UserTarget } from "./people.ts";
import { usageCsv, usageFigures, usageJson } from "./report.ts";

const MAX_ADMIN_BODY = 64 * 1024;

class BadInput extends Error {
  readonly code = "bad_input";
}

const json = (value: unknown, status = 200) => new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });
const iso = (t: number) => new Date(t).toISOString();

export async function serveGateway(ctx: ProxyContext, runtime: TenantRuntime, request: Request, path: string, search: string, started: number, base: string): Promise<Response> {
  const slug = runtime.config.slug;
  const notFound = () => ctx.rejected(request, started, slug, "gateway", new GatewayRefusal("not_allowed", "not found: see docs/proxy.md for the gateway's endpoints"));
  const badMethod = (allowed: string) => ctx.rejected(request, started, slug, "gateway", new GatewayRefusal("bad_method", `use ${allowed} here`, { headers: { allow: allowed } }));
  try {
    if (path === LOGOUT_PATH) return request.method === "POST" ? await logout(ctx, runtime, request, started, base) : badMethod("POST");
    if (path === ME_USAGE_PATH) return request.method === "GET" ? await meUsage(ctx, runtime, request, started, base) : badMethod("GET");
    if (!path.startsWith(ADMIN_PATH)) return notFound();
    const resource = path.slice(ADMIN_PATH.length);
    if (!["usage", "budgets", "limits", "revocations"].includes(resource)) return notFound();
    const caller = await authorizeAdmin(ctx, runtime, request, started, base, "admin");
    if (caller instanceof Response) return caller;
    const query = new URLSearchParams(search);
    const answer = await admin(ctx, runtime, request, resource, query, caller.name);
    ctx.log({ time: iso(started), tenant: slug, method: request.method, route: `admin_${resource}`, status: answer.status, duration_ms: Date.now() - started, username: caller.name });
    return answer;
  } catch (e) {
    if (e instanceof BadInput || e instanceof UnknownPerson || (e instanceof StateError && e.code === "STATE_INPUT")) return ctx.rejected(request, started, slug, "gateway", new GatewayRefusal("bad_input", e.message, { cause: e }));
    throw e;
  }
}

async function logout(ctx: ProxyContext, runtime: TenantRuntime, request: Request, started: number, base: string): Promise<Response> {
  // a session already signed out (or a person revoked) gets the 401 the API gives it
  const active = await activeUser(ctx, runtime, request, started, base, "logout");
  if (active instanceof Response) return active;
  const { user } = active;
  const session = sessionOf(user);
  if (!session) throw new BadInput("this access token names no session (origin_jti or jti): nothing to sign out");
  // until the token (and every token refreshed in this session so far) has expired
  const until = Math.max((user.exp + CLOCK_SKEW_SECONDS) * 1000, Date.now() + 1000);
  await ctx.state.revoke({ tenant: runtime.config.slug, kind: "origin_jti", value: session, until, at: Date.now(), by: "logout" });
  ctx.denylist.forget();
  ctx.log({ time: iso(started), tenant: runtime.config.slug, method: "POST", route: "logout", status: 200, duration_ms: Date.now() - started, sub: user.sub, username: user.username });
  return json({ revoked: "session", until: iso(until) });
}

function budgetJson(s: BudgetStatus): BudgetStatusJson {
  const b = s.budget;
  const scale = b.unit === "usd" ? 1e6 : 1;
  return { ...subjectJson(b.subject), period: b.period, unit: b.unit, soft: b.soft, limit: b.limit / scale, used: s.used / scale, remaining: s.remaining / scale, resets_at: iso(s.resetsAt) };
}

async function meUsage(ctx: ProxyContext, runtime: TenantRuntime, request: Request, started: number, base: string): Promise<Response> {
  const active = await activeUser(ctx, runtime, request, started, base, "me_usage");
  if (active instanceof Response) return active;
  const { user, person } = active;
  const slug = runtime.config.slug;
  const now = Date.now();
  const today = dayKey(now);
  const month = monthKey(now);
  const [day, monthRows, budgets] = await Promise.all([
    ctx.state.usageReport({ tenant: slug, since: today, until: today, by: "user", sub: user.sub }),
    ctx.state.usageReport({ tenant: slug, since: `${month}-01`, until: today, by: "user", sub: user.sub }),
    ctx.state.budgetStatus(person, now),
  ]);
  return json({ user: person.displayName, sub: person.sub, groups: person.groups, today: { day: today, ...usageFigures(day[0]) }, month: { month, ...usageFigures(monthRows[0]) }, budgets: budgets.map(budgetJson) } satisfies MyUsageJson);
}

// ---- admin ----

function subjectJson(s: Subject): SubjectJson {
  return s.kind === "tenant" ? { tenant: true } : s.kind === "user" ? { user: s.id } : { group: s.id };
}

/** Exactly one of `user`, `group`, `tenant` (from a JSON body or the query). */
function subjectFrom(get: (name: string) => unknown): Subject {
  const given = (["user", "group", "tenant"] as const).filter((k) => get(k) !== undefined && get(k) !== null && get(k) !== false);
  if (given.length !== 1) throw new BadInput("name exactly one of user (username, email or sub), group, or tenant");
  const kind = given[0] as Subject["kind"];
  if (kind === "tenant") return { kind, id: "*" };
  const id = get(kind);
  if (typeof id !== "string" || id === "" || id.length > 256) throw new BadInput(`${kind} must be a non-empty name`);
  return { kind, id };
}

function period(v: unknown): Period {
  if (v !== "day" && v !== "month") throw new BadInput("period is day or month");
  return v;
}

async function readJson(request: Request): Promise<Record<string, unknown>> {
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (length > MAX_ADMIN_BODY) throw new BadInput(`the body is over ${MAX_ADMIN_BODY} bytes`);
  const text = await request.text();
  if (text.length > MAX_ADMIN_BODY) throw new BadInput(`the body is over ${MAX_ADMIN_BODY} bytes`);
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new BadInput("the body must be a JSON object");
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** `kind` (sub, username or email): what a `user` value is, when the admin says; absent: any of them. */
function userKindOf(get: (name: string) => unknown): UserKind | undefined {
  const kind = get("kind");
  if (kind === undefined || kind === null) return undefined;
  if (typeof kind !== "string" || !(USER_KINDS as readonly string[]).includes(kind)) throw new BadInput("kind is sub, username or email");
  return kind as UserKind;
}

function revocationTarget(get: (name: string) => unknown): { session: string } | { user: UserTarget } {
  const user = get("user");
  const session = get("session");
  if ((user === undefined) === (session === undefined)) throw new BadInput("name exactly one of user (username, email or sub) or session (an origin_jti)");
  const value = user ?? session;
  if (typeof value !== "string" || value === "" || value.length > 256) throw new BadInput("user or session must be a non-empty string");
  const kind = userKindOf(get);
  if (session !== undefined) {
    if (kind !== undefined) throw new BadInput("kind goes with user, not session");
    return { session: value };
  }
  return { user: { value, ...(kind ? { kind } : {}) } };
}

/** A budget's or limit's subject from the body; a user resolved as people.ts says. */
async function settingSubjectFrom(ctx: ProxyContext, tenant: string, get: (name: string) => unknown): Promise<{ subject: Subject; people?: SeenPerson[] }> {
  const subject = subjectFrom(get);
  const kind = userKindOf(get);
  if (subject.kind !== "user") {
    if (kind !== undefined) throw new BadInput("kind goes with user");
    return { subject };
  }
  const { id, people } = await settingSubject(ctx, tenant, { value: subject.id, ...(kind ? { kind } : {}) });
  return { subject: { kind: "user", id }, people };
}

/** `matched` (and the note when nobody seen has that name) for an answer about a user. */
function matchedJson(value: string, kind: UserKind | undefined, people: SeenPerson[] | undefined) {
  if (!people) return {};
  return { matched: people.map((p) => personJson(p, value)), ...(people.length === 0 ? { note: `${notSeenNote(value, kind)}; it applies when they first appear` } : {}) };
}

async function admin(ctx: ProxyContext, runtime: TenantRuntime, request: Request, resource: string, query: URLSearchParams, by: string): Promise<Response> {
  const tenant = runtime.config.slug;
  const q = (name: string) => query.get(name) ?? undefined;
  const method = request.method;
  if (resource === "usage") {
    if (method !== "GET") throw new BadInput("use GET for the usage report");
    const now = Date.now();
    const since = q("since") ?? `${monthKey(now)}-01`;
    const until = q("until") ?? dayKey(now);
    if (!DAY.test(since) || !DAY.test(until)) throw new BadInput("since and until are days, YYYY-MM-DD");
    const dimension = (q("by") ?? "user") as UsageDimension;
    const rows = usageJson(dimension, await ctx.state.usageReport({ tenant, since, until, by: dimension }));
    const csv = q("format") === "csv" || (q("format") === undefined && (request.headers.get("accept") ?? "").includes("text/csv"));
    if (q("format") !== undefined && q("format") !== "csv" && q("format") !== "json") throw new BadInput("format is json or csv");
    return csv ? new Response(usageCsv(dimension, rows), { headers: { "content-type": "text/csv; charset=utf-8", "cache-control": "no-store" } }) : json(rows);
  }
  if (resource === "budgets") {
    if (method === "GET") return json((await ctx.state.listBudgets(tenant)).map((b): BudgetJson => ({ ...subjectJson(b.subject), period: b.period, unit: b.unit, limit: b.unit === "usd" ? b.limit / 1e6 : b.limit, soft: b.soft })));
    if (method === "PUT" || method === "POST") {
      const body = await readJson(request);
      const usd = body.usd;
      const tokens = body.tokens;
      if ((usd === undefined) === (tokens === undefined)) throw new BadInput("give exactly one of usd or tokens");
      const amount = usd ?? tokens;
      if (typeof amount !== "number" || !Number.isFinite(amount) || amount < 0) throw new BadInput("usd or tokens must be a non-negative number");
      const { subject, people } = await settingSubjectFrom(ctx, tenant, (k) => body[k]);
      const budget: Budget = { tenant, subject, period: period(body.period), unit: usd !== undefined ? "usd" : "tokens", limit: usd !== undefined ? Math.round(amount * 1e6) : Math.floor(amount), soft: body.soft === true };
      await ctx.state.setBudget(budget);
      return json({ ...subjectJson(budget.subject), period: budget.period, unit: budget.unit, limit: amount, soft: budget.soft, ...matchedJson(String(body.user), userKindOf((k) => body[k]), people) });
    }
    if (method === "DELETE") {
      const unit = q("unit");
      if (unit !== undefined && unit !== "usd" && unit !== "tokens") throw new BadInput("unit is usd or tokens");
      const subject = subjectFrom(q);
      const p = period(q("period"));
      if (subject.kind !== "user") return json({ cleared: await ctx.state.clearBudget(tenant, subject, p, unit) });
      const kind = userKindOf(q);
      const { ids, people } = await settingIds(ctx, tenant, { value: subject.id, ...(kind ? { kind } : {}) });
      let cleared = 0;
      for (const id of ids) cleared += await ctx.state.clearBudget(tenant, { kind: "user", id }, p, unit);
      return json({ cleared, ...matchedJson(subject.id, kind, people) });
    }
  }
  if (resource === "limits") {
    if (method === "GET") return json((await ctx.state.listLimits(tenant)).map((l): LimitJson => ({ ...subjectJson(l.subject), ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) })));
    if (method === "PUT" || method === "POST") {
      const body = await readJson(request);
      const { subject, people } = await settingSubjectFrom(ctx, tenant, (k) => body[k]);
      const limit: RateLimit = { tenant, subject, ...(body.rpm !== undefined ? { rpm: body.rpm as number } : {}), ...(body.tpm !== undefined ? { tpm: body.tpm as number } : {}) };
      await ctx.state.setLimit(limit);
      return json({ ...subjectJson(limit.subject), ...(limit.rpm !== undefined ? { rpm: limit.rpm } : {}), ...(limit.tpm !== undefined ? { tpm: limit.tpm } : {}), ...matchedJson(String(body.user), userKindOf((k) => body[k]), people) });
    }
    if (method === "DELETE") {
      const subject = subjectFrom(q);
      if (subject.kind !== "user") return json({ cleared: (await ctx.state.clearLimit(tenant, subject)) ? 1 : 0 });
      const kind = userKindOf(q);
      const { ids, people } = await settingIds(ctx, tenant, { value: subject.id, ...(kind ? { kind } : {}) });
      let cleared = 0;
      for (const id of ids) if (await ctx.state.clearLimit(tenant, { kind: "user", id })) cleared++;
      return json({ cleared, ...matchedJson(subject.id, kind, people) });
    }
  }
  if (resource === "revocations") {
    if (method === "GET") return json((await ctx.state.listRevocations(tenant)).map(revocationJson));
    if (method === "POST" || method === "PUT") {
      const body = await readJson(request);
      const target = revocationTarget((k) => body[k]);
      const reason = typeof body.reason === "string" ? body.reason.slice(0, 500) : undefined;
      if ("user" in target) return json(await revokeUser(ctx, tenant, target.user, by, reason));
      const now = Date.now();
      const revocation: Revocation = { tenant, kind: "origin_jti", value: target.session, at: now, until: now + ctx.revocationTtlMs, by, ...(reason !== undefined ? { reason } : {}) };
      await ctx.state.revoke(revocation);
      ctx.denylist.forget();
      return json(revocationJson(revocation));
    }
    if (method === "DELETE") {
      const target = revocationTarget(q);
      return json("user" in target ? await restoreUser(ctx, tenant, target.user) : await restoreSession(ctx, tenant, target.session));
    }
  }
  throw new BadInput(`${method} is not supported on ${resource}`);
}
