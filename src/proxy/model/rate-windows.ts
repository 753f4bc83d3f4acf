/**
 * Rate limits: requests and tokens per minute for a user, a group or the tenant, counted on a
 * sliding window (the previous fixed window weighted, plus the current one). The stores apply
 * `admits` atomically (the Redis script mirrors it); the rest says what the counts mean.
 */
import { personIds, type Person } from "./person.ts";
import type { Subject } from "./subjects.ts";

export const WINDOW_MS = 60_000;

export interface RateLimit {
  tenant: string;
  /** A user or group limit caps that subject as a whole; a tenant limit caps the tenant. */
  subject: Subject;
  rpm?: number;
  tpm?: number;
}

/** Limits from the proxy configuration, used where no stored limit applies. */
export interface RateDefaults {
  perPerson?: { rpm?: number; tpm?: number };
  perTenant?: { rpm?: number; tpm?: number };
}

export interface RateWindow {
  subject: Subject;
  kind: "requests" | "tokens";
  limit: number;
  remaining: number;
  /** When the current one-minute window ends (epoch ms). */
  resetAt: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Every window that applied, most constrained first. */
  windows: RateWindow[];
  /** When refused: how long until the refusing window admits this request. */
  retryAfterMs?: number;
  refusedBy?: RateWindow;
}

/** A window a request counts against: the subject and its limits. */
export interface WindowSpec {
  subject: Subject;
  rpm?: number;
  tpm?: number;
}

/**
 * The windows for a person: every user limit naming them (stored by sub, username or email, and
 * the tenant policy's) or else the configured per-person default; the limits of each of their
 * groups; the stored tenant limit or else the configured per-tenant default. Several limits on one
 * subject share its one window, so every one holds: the smallest rpm and the smallest tpm.
 */
export function windowsFor(person: Person, limits: readonly RateLimit[], defaults: RateDefaults = {}): WindowSpec[] {
  const specs: WindowSpec[] = [];
  // the person's ids only when some limit names a user (most tenants: none)
  const ids = limits.some((l) => l.subject.kind === "user") ? personIds(person) : undefined;
  const users = ids ? limits.filter((l) => l.subject.kind === "user" && ids.has(l.subject.id)) : [];
  const user = users.length > 0 ? tightest(users) : defaults.perPerson;
  if (user && (user.rpm !== undefined || user.tpm !== undefined)) specs.push({ subject: { kind: "user", id: person.sub }, ...rateFields(user) });
  const groups = new Map<string, RateLimit[]>();
  for (const l of limits) if (l.subject.kind === "group" && person.groups.includes(l.subject.id)) groups.set(l.subject.id, [...(groups.get(l.subject.id) ?? []), l]);
  for (const [id, ls] of groups) specs.push({ subject: { kind: "group", id }, ...rateFields(tightest(ls)) });
  const tenant = limits.find((l) => l.subject.kind === "tenant") ?? (defaults.perTenant ? { ...defaults.perTenant } : undefined);
  if (tenant && (tenant.rpm !== undefined || tenant.tpm !== undefined)) specs.push({ subject: { kind: "tenant", id: "*" }, ...rateFields(tenant) });
  return specs;
}

const smaller = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

/** Limits on one subject as the one that holds them all. */
function tightest(limits: readonly { rpm?: number; tpm?: number }[]): { rpm?: number; tpm?: number } {
  let rpm: number | undefined;
  let tpm: number | undefined;
  for (const l of limits) [rpm, tpm] = [smaller(rpm, l.rpm), smaller(tpm, l.tpm)];
  return { ...(rpm !== undefined ? { rpm } : {}), ...(tpm !== undefined ? { tpm } : {}) };
}

/** Only the rpm and tpm a limit sets. */
export const rateFields = (l: { rpm?: number; tpm?: number }) => ({ ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) });

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
