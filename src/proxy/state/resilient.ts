/**
 * What the gateway does when Redis is unreachable, as the operator chose:
 * - fail-closed: every call throws StateUnavailable (the HTTP layer answers 503
 *   overloaded_error; `ready()` is false so /readyz takes the replica out);
 * - fail-open: requests are served from a local in-memory store (budgets and limits are not
 *   enforced, revocations made elsewhere are not seen), usage records and revocations are kept
 *   in a local queue and written, in order, once Redis answers again. A hook reports each change.
 * Admin reads and settings always go to Redis: an admin is told it is down, not shown stale data.
 */
import { SqliteState } from "./sqlite.ts";
import {
  type Budget, type BudgetStatus, type BudgetUnit, type Estimate, type GatewayState, type Period, type Person, type RateDecision, type RateDefaults, type RateLimit, type Reservation,
  type ReserveResult, type Revocation, type RevocationKind, StateUnavailable, type Subject, type TokenIdentity, type UsageQuery, type UsageRecord, type UsageRow,
} from "./types.ts";

export type FailurePolicy = "open" | "closed";

export interface ResilienceHooks {
  /** The store went down (first failure); `policy` says what happens now. */
  degraded?(event: { op: string; policy: FailurePolicy; error: StateUnavailable }): void;
  /** The store is back; `flushed` queued writes were written. */
  recovered?(event: { flushed: number; downMs: number }): void;
  /** The queue was full and the oldest write was dropped (fail-open only). */
  dropped?(event: { kind: QueuedWrite["kind"] }): void;
}

type QueuedWrite =
  | { kind: "settle"; reservation: Reservation; record: UsageRecord }
  | { kind: "record"; record: UsageRecord }
  | { kind: "release"; reservation: Reservation }
  | { kind: "revoke"; revocation: Revocation }
  | { kind: "restore"; tenant: string; revocationKind: RevocationKind; value: string };

export interface ResilientOptions {
  policy: FailurePolicy;
  hooks?: ResilienceHooks;
  /** Where fail-open serves from; default an in-memory SQLite store. */
  fallback?: GatewayState;
  /** How often a down store is probed. Default 1000 ms. */
  probeMs?: number;
  /** Queued writes kept at most (fail-open). Default 100,000. */
  maxQueue?: number;
}

export class ResilientState implements GatewayState {
  private readonly fallback: GatewayState;
  private readonly queue: QueuedWrite[] = [];
  private downSince: number | undefined;
  private probe: ReturnType<typeof setInterval> | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly primary: GatewayState,
    private readonly options: ResilientOptions,
  ) {
    this.fallback = options.fallback ?? new SqliteState(":memory:");
  }

  /** For /readyz: false while the store is down under fail-closed. */
  ready(): boolean {
    return this.downSince === undefined || this.options.policy === "open";
  }

  get degraded(): boolean {
    return this.downSince !== undefined;
  }

  get queued(): number {
    return this.queue.length;
  }

  private markDown(op: string, error: StateUnavailable): void {
    if (this.downSince !== undefined) return;
    this.downSince = Date.now();
    this.options.hooks?.degraded?.({ op, policy: this.options.policy, error });
    this.probe = setInterval(() => void this.tryRecover(), this.options.probeMs ?? 1000);
    this.probe.unref?.();
  }

  /** Probes the store; when it answers, writes the queue in order, then serves from it again. */
  tryRecover(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        if (this.downSince === undefined || !(await this.primary.ping())) return;
        let flushed = 0;
        while (this.queue.length > 0) {
          await this.apply(this.queue[0] as QueuedWrite); // throws while still down: the rest stays queued
          this.queue.shift();
          flushed++;
        }
        const downMs = Date.now() - this.downSince;
        this.downSince = undefined;
        clearInterval(this.probe);
        this.options.hooks?.recovered?.({ flushed, downMs });
      } catch (e) {
        if (!(e instanceof StateUnavailable)) throw e;
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private apply(w: QueuedWrite): Promise<unknown> {
    switch (w.kind) {
      case "settle":
        return this.primary.settle(w.reservation, w.record);
      case "record":
        return this.primary.recordUsage(w.record);
      case "release":
        return this.primary.release(w.reservation);
      case "revoke":
        return this.primary.revoke(w.revocation);
      case "restore":
        return this.primary.restore(w.tenant, w.revocationKind, w.value);
    }
  }

  /** A call that may be served locally when the store is down and the policy is open. */
  private async serve<T>(op: string, onPrimary: (s: GatewayState) => Promise<T>): Promise<T> {
    if (this.downSince === undefined) {
      try {
        return await onPrimary(this.primary);
      } catch (e) {
        if (!(e instanceof StateUnavailable)) throw e;
        this.markDown(op, e);
        if (this.options.policy === "closed") throw e;
      }
    } else if (this.options.policy === "closed") {
      throw new StateUnavailable(`the gateway state store is unreachable (since ${new Date(this.downSince).toISOString()}); requests are refused until it is back`);
    }
    return onPrimary(this.fallback);
  }

  /** A write: to the store, or (fail-open, store down) queued and applied locally. */
  private async write(op: string, w: QueuedWrite): Promise<void> {
    if (this.downSince === undefined) {
      try {
        await this.apply(w);
        return;
      } catch (e) {
        if (!(e instanceof StateUnavailable)) throw e;
        this.markDown(op, e);
        if (this.options.policy === "closed") throw e;
      }
    } else if (this.options.policy === "closed") {
      throw new StateUnavailable("the gateway state store is unreachable; the write was not made");
    }
    if (this.queue.length >= (this.options.maxQueue ?? 100_000)) this.options.hooks?.dropped?.({ kind: (this.queue.shift() as QueuedWrite).kind });
    this.queue.push(w);
    await this.applyLocally(w);
  }

  private async applyLocally(w: QueuedWrite): Promise<void> {
    if (w.kind === "settle") await this.fallback.settle(w.reservation, w.record);
    else if (w.kind === "record") await this.fallback.recordUsage(w.record);
    else if (w.kind === "release") await this.fallback.release(w.reservation);
    else if (w.kind === "revoke") await this.fallback.revoke(w.revocation);
    else await this.fallback.restore(w.tenant, w.revocationKind, w.value);
  }

  reserve(person: Person, estimate: Estimate, options?: { now?: number; ttlMs?: number }): Promise<ReserveResult> {
    return this.serve("reserve", (s) => s.reserve(person, estimate, options));
  }
  settle(reservation: Reservation, record: UsageRecord): Promise<void> {
    return this.write("settle", { kind: "settle", reservation, record });
  }
  release(reservation: Reservation): Promise<void> {
    return this.write("release", { kind: "release", reservation });
  }
  recordUsage(record: UsageRecord): Promise<void> {
    return this.write("record", { kind: "record", record });
  }
  budgetStatus(person: Person, now?: number): Promise<BudgetStatus[]> {
    return this.serve("budgetStatus", (s) => s.budgetStatus(person, now));
  }
  admit(person: Person, tokens: number, options?: { now?: number; defaults?: RateDefaults }): Promise<RateDecision> {
    return this.serve("admit", (s) => s.admit(person, tokens, options));
  }
  chargeTokens(person: Person, tokens: number, options?: { now?: number; defaults?: RateDefaults }): Promise<void> {
    return this.serve("chargeTokens", (s) => s.chargeTokens(person, tokens, options));
  }
  revoke(revocation: Revocation): Promise<void> {
    return this.write("revoke", { kind: "revoke", revocation });
  }
  async restore(tenant: string, kind: RevocationKind, value: string): Promise<boolean> {
    await this.write("restore", { kind: "restore", tenant, revocationKind: kind, value });
    return true;
  }
  isRevoked(tenant: string, identity: TokenIdentity, now?: number): Promise<Revocation | null> {
    return this.serve("isRevoked", (s) => s.isRevoked(tenant, identity, now));
  }
  // admin reads and settings: the store or a clear error
  usageReport(query: UsageQuery): Promise<UsageRow[]> {
    return this.primary.usageReport(query);
  }
  listRevocations(tenant: string, now?: number): Promise<Revocation[]> {
    return this.primary.listRevocations(tenant, now);
  }
  setBudget(budget: Budget): Promise<void> {
    return this.primary.setBudget(budget);
  }
  clearBudget(tenant: string, subject: Subject, period: Period, unit?: BudgetUnit): Promise<number> {
    return this.primary.clearBudget(tenant, subject, period, unit);
  }
  listBudgets(tenant: string): Promise<Budget[]> {
    return this.primary.listBudgets(tenant);
  }
  setLimit(limit: RateLimit): Promise<void> {
    return this.primary.setLimit(limit);
  }
  clearLimit(tenant: string, subject: Subject): Promise<boolean> {
    return this.primary.clearLimit(tenant, subject);
  }
  listLimits(tenant: string): Promise<RateLimit[]> {
    return this.primary.listLimits(tenant);
  }
  ping(): Promise<boolean> {
    return this.primary.ping();
  }
  async close(): Promise<void> {
    clearInterval(this.probe);
    await this.tryRecover();
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }
}
