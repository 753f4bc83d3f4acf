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

export function alertsFor(o: BudgetObservation, thresholds: readonly number[], now: number): BudgetAlert[] {
  return reachedThresholds(o.spent, o.budget.limit, thresholds).map((threshold) => {
    const key = alertKey(o, threshold);
    return { id: alertId(key), key, observation: o, threshold, detectedAt: now };
  });
}
