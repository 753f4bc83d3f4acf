/**
 * One tenant's budget alerts, wired to the gateway: the spool under `<spool base>/alerts/<tenant>`
 * (one directory for every process of the host, so a survivor takes over a dead one's alerts),
 * delivery with the global fetch (counter `proxy_alerts_total`), and the state store deciding
 * which replica sends each alert (`claimOnce`). `observeStatuses` turns the budgets' figures after
 * a request into observations.
 */
import { join } from "node:path";
import type { TenantConfig } from "../config.ts";
import type { Budget, BudgetStatus } from "../model/budgets.ts";
import { periodKeyOf } from "../model/periods.ts";
import type { Person } from "../model/person.ts";
import type { GatewayState } from "../state/types.ts";
import { logEvent } from "../telemetry/log.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { BudgetAlerts } from "./budget-alerts.ts";
import { AlertDelivery } from "./delivery.ts";
import { AlertSpool } from "./spool.ts";
import type { BudgetObservation } from "./types.ts";

export interface RunningAlerts {
  alerts: BudgetAlerts;
  delivery: AlertDelivery;
}

export function startAlerts(tenant: TenantConfig, deps: { state: GatewayState; metrics: Metrics; fetch: typeof fetch; spoolBase: string }): RunningAlerts | undefined {
  const config = tenant.alerts;
  if (!config) return undefined;
  const log = (level: "info" | "warn" | "error", message: string, fields: Record<string, unknown>) => logEvent(level, message, { tenant: tenant.slug, webhook: config.webhookOrigin, ...fields });
  const spool = AlertSpool.open(join(deps.spoolBase, "alerts", tenant.slug), { onCorrupt: (file) => log("warn", `an unreadable alert file was set aside: ${file}`, {}) });
  const counter = deps.metrics.alerts;
  const delivery = new AlertDelivery({ fetch: (url, init) => deps.fetch(url, init), spool, config, log, deliveries: { inc: ({ result }) => counter.inc({ tenant: tenant.slug, result }) } });
  const alerts = new BudgetAlerts({ claims: deps.state, spool, delivery, thresholds: config.thresholds, log });
  void alerts.resume().then(
    (n) => (n > 0 ? log("info", `${n} budget alerts of an earlier run resumed`, {}) : undefined),
    (e: unknown) => log("error", `spooled budget alerts could not be resumed: ${(e as Error).message}`, {}),
  );
  return { alerts, delivery };
}

/**
 * After a request's usage is settled: the person's budgets as they stand now (one read of the
 * store, only for a person some budget applies to, only for a tenant with alerts), observed.
 * Never throws (a failed read is the next request's to catch up: alerts are level-triggered).
 */
/** `policyBudgets`: the tenant policy's budgets for the person (not stored), observed like the stored ones. */
export async function observeAfterSettle(alerts: BudgetAlerts, state: Pick<GatewayState, "budgetStatus">, person: Person, policyBudgets?: readonly Budget[]): Promise<void> {
  try {
    observeStatuses(alerts, person, await state.budgetStatus(person, Date.now(), policyBudgets));
  } catch (e) {
    // while the store is down this fails for every request: said once a minute per tenant
    const now = Date.now();
    if (now - (lastReadWarning.get(person.tenant) ?? 0) < 60_000) return;
    lastReadWarning.set(person.tenant, now);
    logEvent("warn", `budget alerts: budgets could not be read after a request (${(e as Error).message}); the next requests look again`, { tenant: person.tenant });
  }
}

const lastReadWarning = new Map<string, number>();

/** The figures of every budget of the person after a request (spend settled; requests in flight left out). */
export function observeStatuses(alerts: BudgetAlerts, person: Person, statuses: readonly BudgetStatus[], now = Date.now()): void {
  for (const status of statuses) void alerts.observe(observationOf(person, status, now));
}

/** A hard budget refused the person's request: its alerts up to 100 %, once (not per refused request). */
export function observeRefusal(alerts: BudgetAlerts, person: Person, refusedBy: BudgetStatus, now = Date.now()): void {
  void alerts.observe({ ...observationOf(person, refusedBy, now), refusing: true });
}

export function observationOf(person: Person, status: BudgetStatus, now: number): BudgetObservation {
  const { budget } = status;
  const scope = budget.subject.kind;
  return {
    tenant: person.tenant,
    scope,
    subject: scope === "user" ? person.sub : scope === "group" ? budget.subject.id : "*",
    subjectName: scope === "user" ? person.displayName : scope === "group" ? budget.subject.id : person.tenant,
    budget: { name: budget.policy?.name ?? "admin API", source: budget.policy?.source ?? "admin API", period: budget.period, unit: budget.unit, limit: budget.limit, soft: budget.soft },
    periodKey: periodKeyOf(budget.period, now),
    spent: Math.max(0, status.used - status.held),
    resetsAt: status.resetsAt,
  };
}
