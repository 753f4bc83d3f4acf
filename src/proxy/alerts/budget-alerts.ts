/**
 * Budget alerts (issue 18 §4): after a request settles, the gateway hands over the figures of
 * each budget that applies (`observe`); every threshold reached yields an alert, sent once per
 * threshold, budget and period on any replica, and at least once:
 *
 *   1. the alert goes to the spool (fsync'd) with a claimant id of its own;
 *   2. the state store's `claimOnce(key, claimant)` decides which replica sends it (the loser
 *      deletes its copy); a process that crashed after 1 claims again with the same claimant
 *      when it comes back and is answered true, so the alert is not lost;
 *   3. delivery retries until the receiver has it (delivery.ts), then the file goes.
 *
 * `observe` never throws and never delays the request: it is called after the answer is sent,
 * and what fails here is logged. A threshold reached once in this process is not looked at
 * again (a small set per period), so the store is asked once per threshold, not per request.
 */
import { randomUUID } from "node:crypto";
import type { ClaimOnce } from "../coordination/claim-once.ts";
import type { AlertDelivery } from "./delivery.ts";
import type { AlertSpool } from "./spool.ts";
import { alertsFor } from "./thresholds.ts";
import type { BudgetAlert, BudgetObservation, SpooledAlert } from "./types.ts";

/** A claim outlives the period by this much: a late observation (a slow replica) never sends it again. */
const CLAIM_GRACE_MS = 7 * 24 * 3_600_000;
const MAX_SEEN = 100_000;

export interface BudgetAlertsDeps {
  claims: ClaimOnce;
  spool: Pick<AlertSpool, "put" | "remove" | "recover">;
  delivery: Pick<AlertDelivery, "enqueue">;
  thresholds: readonly number[];
  log: (level: "info" | "warn" | "error", message: string, fields: Record<string, unknown>) => void;
  now?: () => number;
  /** When the store cannot decide who sends, ask again after this long. Default 30 s. */
  claimRetryMs?: number;
}

export class BudgetAlerts {
  /** Keys handled in this process (sent, being sent, or another replica's), until their period ends. */
  private readonly handled = new Map<string, number>();

  constructor(private readonly deps: BudgetAlertsDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Resumes the spooled alerts of an earlier run (or of a process that is gone). */
  async resume(): Promise<number> {
    const spooled = await this.deps.spool.recover();
    let resumed = 0;
    for (const alert of spooled) {
      this.handled.set(alert.key, alert.observation.resetsAt);
      if (await this.claim(alert)) {
        this.deps.delivery.enqueue(alert);
        resumed++;
      } else {
        await this.deps.spool.remove(alert.id).catch(() => {});
      }
    }
    return resumed;
  }

  /** The figures of one budget after a request; starts the alerts of any threshold reached. */
  async observe(observation: BudgetObservation): Promise<void> {
    const now = this.now();
    const fresh = alertsFor(observation, this.deps.thresholds, now).filter((a) => !this.handled.has(a.key));
    if (fresh.length === 0) return;
    this.prune(now);
    // marked before any await: concurrent requests of the same crossing make one alert
    for (const alert of fresh) this.handled.set(alert.key, observation.resetsAt);
    await Promise.all(fresh.map((alert) => this.start(alert)));
  }

  private async start(alert: BudgetAlert): Promise<void> {
    const spooled: SpooledAlert = { ...alert, claimant: randomUUID(), attempts: 0 };
    const fields = { alert_id: alert.id, tenant: alert.observation.tenant, threshold: alert.threshold, budget: alert.observation.budget.name };
    try {
      await this.deps.spool.put(spooled);
    } catch (e) {
      this.handled.delete(alert.key); // tried again at the next observation
      return this.deps.log("error", `budget alert ${alert.id} could not be spooled (${(e as Error).message}); will try again`, fields);
    }
    await this.claimAndSend(spooled, fields);
  }

  private async claimAndSend(spooled: SpooledAlert, fields: Record<string, unknown>, failures = 0): Promise<void> {
    let won: boolean;
    try {
      won = await this.claim(spooled);
    } catch (e) {
      // the store cannot decide now: kept in the spool, asked again later (and at the next start)
      if (failures === 0) this.deps.log("warn", `budget alert ${spooled.id}: the state store could not say which replica sends it (${(e as Error).message}); kept in the spool, asking again`, fields);
      const timer = setTimeout(() => void this.claimAndSend(spooled, fields, failures + 1), this.deps.claimRetryMs ?? 30_000);
      timer.unref?.();
      return;
    }
    if (!won) {
      await this.deps.spool.remove(spooled.id).catch(() => {});
      return;
    }
    this.deps.delivery.enqueue(spooled);
  }

  private claim(alert: SpooledAlert): Promise<boolean> {
    return this.deps.claims.claimOnce(alert.key, alert.claimant, Math.max(0, alert.observation.resetsAt - this.now()) + CLAIM_GRACE_MS);
  }

  private prune(now: number): void {
    if (this.handled.size < MAX_SEEN) return;
    for (const [key, until] of this.handled) if (until <= now) this.handled.delete(key);
    if (this.handled.size >= MAX_SEEN) this.handled.clear(); // the claims still stop duplicates
  }
}
