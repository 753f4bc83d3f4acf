/**
 * Which alert thresholds a budget's spend has reached, and the key that makes each alert happen
 * once per threshold, budget and period. Level-triggered on purpose: after a restart (nothing in
 * memory) a budget at 85 % still yields the 0.5 and 0.8 alerts, and the claims (ClaimOnce) are
 * what keeps them from being sent twice.
 */
import { createHash } from "node:crypto";
import type { BudgetAlert, BudgetObservation } from "./types.ts";

export const DEFAULT_THRESHOLDS: readonly number[] = [0.5, 0.8, 1.0];

/** Every threshold `t` with spent ≥ t × limit, lowest first. */
export function reachedThresholds(spent: number, limit: number, thresholds: readonly number[]): number[] {
  if (!(limit > 0)) return [];
  return thresholds.filter((t) => spent >= t * limit);
}

export function alertKey(o: BudgetObservation, threshold: number): string {
  return ["budget-alert", o.tenant, o.scope, o.subject, o.budget.name, o.budget.unit, o.budget.soft ? "soft" : "hard", o.budget.period, o.periodKey, String(threshold)].join("\n");
}

export const alertId = (key: string): string => createHash("sha256").update(key).digest("hex").slice(0, 32);

/**
 * The thresholds the spend reached; a hard budget refusing requests has also reached its top one
 * up to 100 % (the same alert, sent once, whichever comes first), whatever its spend: what a
 * refusal leaves unspent would never fill it.
 */
export function alertsFor(o: BudgetObservation, thresholds: readonly number[], now: number): BudgetAlert[] {
  const reached = reachedThresholds(o.spent, o.budget.limit, thresholds);
  if (o.refusing) {
    const top = Math.max(...thresholds.filter((t) => t <= 1));
    if (Number.isFinite(top) && !reached.includes(top)) reached.push(top);
  }
  return reached.map((threshold) => {
    const key = alertKey(o, threshold);
    return { id: alertId(key), key, observation: o, threshold, detectedAt: now };
  });
}
