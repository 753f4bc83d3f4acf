/**
 * Budgets: a limit on a subject's spend (USD or tokens) per day or month, hard (refuse) or soft
 * (warn). Spend is kept on counters, one per subject and period; a request reserves its estimate
 * on every counter of the person before it is forwarded, and settles to the real cost after.
 */
import { periodEnd, periodKeyOf, dayKey, monthKey, type Period } from "./periods.ts";
import { personIds, type Person } from "./person.ts";
import { subjectKey, subjectsOf, type Subject } from "./subjects.ts";
import type { UsageRecord } from "./usage.ts";

export type BudgetUnit = "usd" | "tokens";

export interface Budget {
  tenant: string;
  subject: Subject;
  period: Period;
  unit: BudgetUnit;
  /** Micro-dollars for usd, tokens for tokens. */
  limit: number;
  /** Soft: warn, never refuse. */
  soft: boolean;
  /** A budget of the tenant policy (never stored): its member (`groups.contractors.budgets[0]`) and source (`group contractors`). */
  policy?: { name: string; source: string };
}

export interface BudgetStatus {
  budget: Budget;
  /** Settled spend plus live reservations in the current period, in the budget's unit. */
  used: number;
  /** The part of `used` held by live reservations (requests in flight), in the budget's unit. */
  held: number;
  remaining: number;
  /** When the period ends (epoch ms). */
  resetsAt: number;
}

/** What a request may cost at most, estimated before forwarding. */
export interface Estimate {
  microUsd: number;
  tokens: number;
}

/** A spend counter: one subject, one period (key "2026-11-29" or "2026-11"). */
export interface CounterRef {
  subject: Subject;
  periodKey: string;
}

export interface Reservation {
  id: string;
  tenant: string;
  estimate: Estimate;
  counters: CounterRef[];
  expiresAt: number;
}

export type ReserveResult =
  | { ok: true; reservation: Reservation; warnings: BudgetStatus[]; statuses: BudgetStatus[] }
  | { ok: false; refusedBy: BudgetStatus; statuses: BudgetStatus[] };

/** A reservation not settled or released in this time is given back by the store. */
export const RESERVATION_TTL_MS = 15 * 60_000;

export function countersFor(person: Pick<Person, "sub" | "groups">, t: number): CounterRef[] {
  const day = dayKey(t);
  const month = monthKey(t);
  return subjectsOf(person).flatMap((subject) => [
    { subject, periodKey: day },
    { subject, periodKey: month },
  ]);
}

export const recordCounters = (record: UsageRecord) => countersFor({ sub: record.sub, groups: record.groups }, record.time);

export const counterKey = (c: CounterRef) => `${subjectKey(c.subject)}:${c.periodKey}`;

/** The counter a budget is measured on for this person, or undefined if the budget is not theirs. */
export function budgetCounter(budget: Budget, person: Person, now: number): CounterRef | undefined {
  const periodKey = periodKeyOf(budget.period, now);
  const s = budget.subject;
  if (s.kind === "user") return personIds(person).has(s.id) ? { subject: { kind: "user", id: person.sub }, periodKey } : undefined;
  if (s.kind === "group") return person.groups.includes(s.id) ? { subject: s, periodKey } : undefined;
  return { subject: { kind: "tenant", id: "*" }, periodKey };
}

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
