/** Rules both state implementations share, so they answer alike: periods, counters, windows, matching. */
import type { Budget, BudgetStatus, CounterRef, Estimate, Person, RateDefaults, RateLimit, RateWindow, Revocation, RevocationKind, SeenPerson, Subject, TokenIdentity, UsageQuery, UsageRecord, UserKind } from "./types.ts";
import { StateError } from "./types.ts";

export const RESERVATION_TTL_MS = 15 * 60_000;
export const WINDOW_MS = 60_000;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export const dayKey = (t: number) => new Date(t).toISOString().slice(0, 10);
export const monthKey = (t: number) => new Date(t).toISOString().slice(0, 7);

/** The end of a period ("2026-11-29" or "2026-11"), UTC. */
export function periodEnd(periodKey: string): number {
  const [y, m, d] = periodKey.split("-").map(Number) as [number, number, number | undefined];
  return d === undefined ? Date.UTC(y, m, 1) : Date.UTC(y, m - 1, d + 1);
}

export const periodKeyOf = (period: "day" | "month", t: number) => (period === "day" ? dayKey(t) : monthKey(t));

/**
 * Identifiers an admin names a person by (sub, username, email), compared without regard to
 * case: Cognito compares usernames and emails case-insensitively, and a sub is lower-case.
 */
export function normaliseUserId(id: string): string {
  return id.toLowerCase();
}

/** Every form a budget or limit stored by user may name this person by (stored names from before case-folding included). */
export function personIds(person: { sub: string; username?: string; email?: string }): Set<string> {
  const ids = new Set([person.sub, normaliseUserId(person.sub)]);
  if (person.username) {
    ids.add(person.username);
    ids.add(normaliseUserId(person.username));
  }
  if (person.email) ids.add(normaliseUserId(person.email));
  return ids;
}

/** The kinds of identifier by which `value` names this person (none: it does not). */
export function matchedBy(person: { sub: string; username?: string; email?: string }, value: string): UserKind[] {
  const v = normaliseUserId(value);
  const kinds: UserKind[] = [];
  if (normaliseUserId(person.sub) === v) kinds.push("sub");
  if (person.username !== undefined && normaliseUserId(person.username) === v) kinds.push("username");
  if (person.email !== undefined && normaliseUserId(person.email) === v) kinds.push("email");
  return kinds;
}

/** The subjects a person's spend and requests count against; a user always by sub. */
export function subjectsOf(person: Pick<Person, "sub" | "groups">): Subject[] {
  return [{ kind: "user", id: person.sub }, ...[...new Set(person.groups)].map((g): Subject => ({ kind: "group", id: g })), { kind: "tenant", id: "*" }];
}

export function countersFor(person: Pick<Person, "sub" | "groups">, t: number): CounterRef[] {
  const day = dayKey(t);
  const month = monthKey(t);
  return subjectsOf(person).flatMap((subject) => [
    { subject, periodKey: day },
    { subject, periodKey: month },
  ]);
}

export const recordCounters = (record: UsageRecord) => countersFor({ sub: record.sub, groups: record.groups }, record.time);

export const subjectKey = (s: Subject) => `${s.kind}:${s.id}`;
export const counterKey = (c: CounterRef) => `${subjectKey(c.subject)}:${c.periodKey}`;

/** The counter a budget is measured on for this person, or undefined if the budget is not theirs. */
export function budgetCounter(budget: Budget, person: Person, now: number): CounterRef | undefined {
  const periodKey = periodKeyOf(budget.period, now);
  const s = budget.subject;
  if (s.kind === "user") return personIds(person).has(s.id) ? { subject: { kind: "user", id: person.sub }, periodKey } : undefined;
  if (s.kind === "group") return person.groups.includes(s.id) ? { subject: s, periodKey } : undefined;
  return { subject: { kind: "tenant", id: "*" }, periodKey };
}

export const tokensOf = (r: Pick<UsageRecord, "inputTokens" | "outputTokens" | "cacheCreationInputTokens" | "cacheReadInputTokens">) =>
  r.inputTokens + r.outputTokens + r.cacheCreationInputTokens + r.cacheReadInputTokens;

export interface CounterValue {
  /** Settled spend plus live reservations. */
  microUsd: number;
  tokens: number;
  /** The live reservations' part of the above (requests in flight). */
  heldMicroUsd?: number;
  heldTokens?: number;
}

export function budgetStatus(budget: Budget, value: CounterValue, periodKey: string): BudgetStatus {
  const used = budget.unit === "usd" ? value.microUsd : value.tokens;
  // never more than used (a counter written by an older version may lack the held figures)
  const held = Math.min(used, Math.max(0, (budget.unit === "usd" ? value.heldMicroUsd : value.heldTokens) ?? 0));
  return { budget, used, held, remaining: Math.max(0, budget.limit - used), resetsAt: periodEnd(periodKey) };
}

/** Whether adding the estimate keeps the counter within the budget. */
export function fits(budget: Budget, value: CounterValue, estimate: Estimate): boolean {
  return (budget.unit === "usd" ? value.microUsd + estimate.microUsd : value.tokens + estimate.tokens) <= budget.limit;
}

/** A window a request counts against: the subject and its limits. */
export interface WindowSpec {
  subject: Subject;
  rpm?: number;
  tpm?: number;
}

/**
 * The windows for a person: a stored user limit (by sub, username or email) or else the
 * configured per-person default; each stored group limit of their groups; the stored tenant
 * limit or else the configured per-tenant default.
 */
export function windowsFor(person: Person, limits: RateLimit[], defaults: RateDefaults = {}): WindowSpec[] {
  const ids = personIds(person);
  const specs: WindowSpec[] = [];
  const user = limits.find((l) => l.subject.kind === "user" && ids.has(l.subject.id)) ?? (defaults.perPerson ? { ...defaults.perPerson, subject: { kind: "user", id: person.sub } } : undefined);
  if (user && (user.rpm !== undefined || user.tpm !== undefined)) specs.push({ subject: { kind: "user", id: person.sub }, ...pick(user) });
  for (const l of limits) if (l.subject.kind === "group" && person.groups.includes(l.subject.id)) specs.push({ subject: l.subject, ...pick(l) });
  const tenant = limits.find((l) => l.subject.kind === "tenant") ?? (defaults.perTenant ? { ...defaults.perTenant } : undefined);
  if (tenant && (tenant.rpm !== undefined || tenant.tpm !== undefined)) specs.push({ subject: { kind: "tenant", id: "*" }, ...pick(tenant) });
  return specs;
}

const pick = (l: { rpm?: number; tpm?: number }) => ({ ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) });

export const windowStart = (now: number) => now - (now % WINDOW_MS);

/** Counts of the previous and the current fixed window, and the time of each one's latest request (when known). */
export interface WindowCounts {
  prevRequests: number;
  currRequests: number;
  prevTokens: number;
  currTokens: number;
  prevLast?: number;
  currLast?: number;
}

/**
 * Sliding-window approximation: the previous window's count weighted by the part of it still
 * inside the last minute, plus the current window's count. Each window also keeps the time of
 * its latest request (`last`): once that is a minute old, none of the previous window's requests
 * is inside the last minute, so it weighs nothing. That bounds every wait by the window (a limit
 * of N per minute admits again at most a minute after the request that filled it).
 */
export const slidingCount = (prev: number, curr: number, weight: number) => prev * weight + curr;

/** How much the previous window still weighs at `now`. */
export function prevWeight(c: Pick<WindowCounts, "prevLast">, now: number): number {
  if (c.prevLast !== undefined && now - WINDOW_MS >= c.prevLast) return 0;
  return 1 - (now - windowStart(now)) / WINDOW_MS;
}

/** The rule the stores apply atomically (the Redis script mirrors it): a request is admitted if it fits every window. */
export function admits(spec: WindowSpec, c: WindowCounts, now: number): boolean {
  const w = prevWeight(c, now);
  if (spec.rpm !== undefined && slidingCount(c.prevRequests, c.currRequests, w) + 1 > spec.rpm) return false;
  if (spec.tpm !== undefined && slidingCount(c.prevTokens, c.currTokens, w) >= spec.tpm) return false;
  return true;
}

/**
 * How long until `need` more fits under `limit`, from counts taken at `now`, with no other traffic:
 * the approximation's own answer, or a minute after the latest request counted (when every
 * counted request has left the last minute), whichever is sooner; never more than the window.
 */
function waitFor(prev: number, curr: number, limit: number, need: number, now: number, c: WindowCounts): number {
  const start = windowStart(now);
  const f = (now - start) / WINDOW_MS;
  let approx: number;
  if (curr + need <= limit) {
    // the previous window's weight must shrink enough
    const g = prev > 0 ? 1 - (limit - need - curr) / prev : 0;
    approx = Math.max(0, Math.ceil((g - f) * WINDOW_MS));
  } else {
    // wait for the next window, where this one becomes the previous
    const g = curr > 0 ? Math.max(0, 1 - (limit - need) / curr) : 0;
    approx = Math.ceil(start + WINDOW_MS - now + g * WINDOW_MS);
  }
  const latest = Math.max(c.currLast ?? -Infinity, c.prevLast ?? -Infinity);
  const allGone = Number.isFinite(latest) ? latest + WINDOW_MS - now : WINDOW_MS;
  return Math.max(0, Math.min(approx, allGone, WINDOW_MS));
}

/** What a store's counts mean for the response headers and retry-after. */
export function describeWindows(specs: WindowSpec[], counts: WindowCounts[], now: number, tokens: number, allowed: boolean) {
  const resetAt = windowStart(now) + WINDOW_MS;
  const windows: RateWindow[] = [];
  let refusedBy: RateWindow | undefined;
  let retryAfterMs: number | undefined;
  specs.forEach((spec, i) => {
    const c = counts[i] as WindowCounts;
    const weight = prevWeight(c, now);
    const ok = admits(spec, c, now);
    if (spec.rpm !== undefined) {
      const used = slidingCount(c.prevRequests, c.currRequests, weight) + (allowed ? 1 : 0);
      const w: RateWindow = { subject: spec.subject, kind: "requests", limit: spec.rpm, remaining: Math.max(0, Math.floor(spec.rpm - used)), resetAt };
      windows.push(w);
      if (!allowed && !ok && slidingCount(c.prevRequests, c.currRequests, weight) + 1 > spec.rpm) {
        const wait = waitFor(c.prevRequests, c.currRequests, spec.rpm, 1, now, c);
        if (retryAfterMs === undefined || wait > retryAfterMs) [retryAfterMs, refusedBy] = [wait, w];
      }
    }
    if (spec.tpm !== undefined) {
      const used = slidingCount(c.prevTokens, c.currTokens, weight) + (allowed ? tokens : 0);
      const w: RateWindow = { subject: spec.subject, kind: "tokens", limit: spec.tpm, remaining: Math.max(0, Math.floor(spec.tpm - used)), resetAt };
      windows.push(w);
      if (!allowed && !ok && slidingCount(c.prevTokens, c.currTokens, weight) >= spec.tpm) {
        const wait = waitFor(c.prevTokens, c.currTokens, spec.tpm - 1, 0, now, c);
        if (retryAfterMs === undefined || wait > retryAfterMs) [retryAfterMs, refusedBy] = [wait, w];
      }
    }
  });
  windows.sort((a, b) => a.remaining / a.limit - b.remaining / b.limit);
  return { allowed, windows, ...(refusedBy ? { refusedBy, retryAfterMs: Math.max(1, retryAfterMs ?? 0) } : {}) };
}

/**
 * The denylist keys a token's claims are checked against: each identifier under its own kind,
 * and under `user` (a revocation naming the person by any identifier).
 */
export function identityKeys(identity: TokenIdentity): [RevocationKind, string][] {
  const keys: [RevocationKind, string][] = [];
  if (identity.sub) keys.push(["sub", identity.sub]);
  if (identity.username) keys.push(["username", identity.username]);
  if (identity.email) keys.push(["email", identity.email.toLowerCase()]);
  if (identity.origin_jti) keys.push(["origin_jti", identity.origin_jti]);
  const any = new Set([identity.sub, identity.username, identity.email].filter((v): v is string => !!v).map(normaliseUserId));
  for (const v of any) keys.push(["user", v]);
  return keys;
}

export const revocationValue = (kind: RevocationKind, value: string) => (kind === "email" || kind === "user" ? normaliseUserId(value) : value);

// Input checks shared by both stores: a bad admin call is refused the same way everywhere.
const bad = (message: string) => new StateError("STATE_INPUT", message);
const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

export function checkSubject(s: Subject): Subject {
  if (!["user", "group", "tenant"].includes(s.kind) || typeof s.id !== "string" || s.id === "") throw bad("a subject needs a kind (user, group or tenant) and an id");
  return s.kind === "tenant" ? { kind: "tenant", id: "*" } : s.kind === "user" ? { kind: "user", id: normaliseUserId(s.id) } : s;
}

export function checkBudget(b: Budget): Budget {
  if (!isCount(b.limit)) throw bad("a budget's limit must be a whole number (micro-dollars or tokens)");
  if (b.period !== "day" && b.period !== "month") throw bad("a budget's period is day or month");
  if (b.unit !== "usd" && b.unit !== "tokens") throw bad("a budget's unit is usd or tokens");
  return { tenant: b.tenant, subject: checkSubject(b.subject), period: b.period, unit: b.unit, limit: b.limit, soft: b.soft === true };
}

export function checkLimit(l: RateLimit): RateLimit {
  if (l.rpm === undefined && l.tpm === undefined) throw bad("a rate limit needs rpm, tpm or both");
  if ((l.rpm !== undefined && !isCount(l.rpm)) || (l.tpm !== undefined && !isCount(l.tpm))) throw bad("rpm and tpm must be whole numbers");
  return { tenant: l.tenant, subject: checkSubject(l.subject), ...pick(l) };
}

export function checkRevocation(r: Revocation): Revocation {
  if (!["user", "sub", "username", "email", "origin_jti"].includes(r.kind) || !r.value) throw bad("a revocation needs a kind (user, sub, username, email, origin_jti) and a value");
  if (!Number.isFinite(r.until) || !Number.isFinite(r.at)) throw bad("a revocation needs until and at times");
  return { ...r, value: revocationValue(r.kind, r.value) };
}

export function checkRecord(r: UsageRecord): void {
  for (const f of ["inputTokens", "outputTokens", "cacheCreationInputTokens", "cacheCreation5mInputTokens", "cacheCreation1hInputTokens", "cacheReadInputTokens", "webSearchRequests"] as const) {
    if (!isCount(r[f])) throw bad(`usage record ${r.requestId}: ${f} must be a whole number`);
  }
  if (r.costMicroUsd !== null && !Number.isSafeInteger(r.costMicroUsd)) throw bad(`usage record ${r.requestId}: cost must be whole micro-dollars or null`);
  if (!r.requestId || !r.tenant || !r.sub) throw bad("a usage record needs requestId, tenant and sub");
}

export function checkQuery(q: UsageQuery): void {
  if (!DAY.test(q.since) || !DAY.test(q.until)) throw bad("since and until are days, YYYY-MM-DD");
  if (!["user", "group", "model", "day"].includes(q.by)) throw bad("by is user, group, model or day");
  if (q.sub !== undefined && q.by !== "user" && q.by !== "day") throw bad("a report for one user is by user or by day");
}

/** The days from since to until inclusive (at most ~3 years, to bound a report). */
export function daysBetween(since: string, until: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${since}T00:00:00Z`), end = Date.parse(`${until}T00:00:00Z`); t <= end && days.length < 1200; t += 86_400_000) days.push(dayKey(t));
  return days;
}

export function checkSeenPerson(p: SeenPerson): SeenPerson {
  if (!p.tenant || !p.sub || !Number.isFinite(p.lastSeen)) throw bad("a person seen needs a tenant, a sub and a time");
  return { ...p, ...(p.email ? { email: p.email.toLowerCase() } : {}) };
}
