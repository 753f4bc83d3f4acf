/** Input checks both state implementations share, so a bad admin call is refused the same way everywhere. */
import type { AuditEntry } from "../model/audit.ts";
import type { Budget } from "../model/budgets.ts";
import { normaliseUserId, type SeenPerson } from "../model/person.ts";
import { rateFields, type RateLimit } from "../model/rate-windows.ts";
import { revocationValue, type Revocation } from "../model/revocations.ts";
import type { Subject } from "../model/subjects.ts";
import type { UsageQuery, UsageRecord } from "../model/usage.ts";
import { USAGE_DIMENSIONS } from "../../shared/gateway-api.ts";
import { StateError } from "./types.ts";

const DAY = /^\d{4}-\d{2}-\d{2}$/;
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
  return { tenant: l.tenant, subject: checkSubject(l.subject), ...rateFields(l) };
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
  if (!USAGE_DIMENSIONS.includes(q.by)) throw bad("by is user, group, model, day or upstream");
  if (q.sub !== undefined && q.by !== "user" && q.by !== "day") throw bad("a report for one user is by user or by day");
}

export function checkSeenPerson(p: SeenPerson): SeenPerson {
  if (!p.tenant || !p.sub || !Number.isFinite(p.lastSeen)) throw bad("a person seen needs a tenant, a sub and a time");
  return { ...p, ...(p.email ? { email: p.email.toLowerCase() } : {}) };
}

/** A person's groups as stored (JSON), when known. */
export function groupsOf(json: string | null | undefined): { groups?: string[] } {
  if (!json) return {};
  try {
    const groups = JSON.parse(json) as unknown;
    return Array.isArray(groups) && groups.every((g) => typeof g === "string") ? { groups } : {};
  } catch {
    return {};
  }
}

/** An audit row must say when, where, who, what and on what; its values must be JSON (16 KiB at most each). */
export function checkAudit(e: AuditEntry): AuditEntry {
  if (!Number.isFinite(e.time) || !e.tenant || !e.actor || !e.action || !e.target) throw bad("an audit row needs time, tenant, actor, action and target");
  for (const v of [e.old, e.new]) if (JSON.stringify(v ?? null).length > 16_384) throw bad("an audit value is larger than 16 KiB");
  return e;
}
