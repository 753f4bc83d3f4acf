/**
 * What the gateway does when its state store is unreachable, as the operator chose:
 * - fail-closed: every call throws StateUnavailable (the HTTP layer answers 503
 *   overloaded_error; `ready()` is false so /readyz takes the replica out), except the usage
 *   of answers already sent (settle, record, release): those go to the spool;
 * - fail-open: requests are served from a local in-memory store (budgets and limits are not
 *   enforced, revocations made elsewhere are not seen); usage records and revocations go to the
 *   spool and are applied locally.
 * The spool (spool.ts) is a local fsync'd file, replayed in order when the store answers again
 * (probed every `probeMs`), at start-up (what a killed predecessor left) and every `scanMs`
 * (what a dead sibling worker left). Without a spool (an in-memory store), fail-open keeps the
 * queue in memory as before. A hook reports each change.
 * Admin reads and settings always go to the store: an admin is told it is down, not shown stale data.
 */
import { Spool, type SpooledWrite } from "./spool.ts";
import { SqliteState } from "./sqlite.ts";
import type { AuditEntry, AuditQuery } from "../model/audit.ts";
import type { Budget, BudgetStatus, BudgetUnit, Estimate, Reservation, ReserveResult } from "../model/budgets.ts";
import type { Period } from "../model/periods.ts";
import type { Person, SeenPerson, UserKind, TokenIdentity } from "../model/person.ts";
import type { RateDecision, RateLimit } from "../model/rate-windows.ts";
import type { Revocation, RevocationKind } from "../model/revocations.ts";
import type { Subject } from "../model/subjects.ts";
import type { UsageQuery, UsageRecord, UsageRow } from "../model/usage.ts";
import type { UsageRollups } from "../rollup/types.ts";
import { type AdmitOptions, type GatewayState, type ReserveOptions, StateUnavailable, type UsageWrite } from "./types.ts";

export type FailurePolicy = "open" | "closed";

export interface ResilienceHooks {
  /** The store went down (first failure); `policy` says what happens now. */
  degraded?(event: { op: string; policy: FailurePolicy; error: StateUnavailable }): void;
  /** The store is back; `flushed` queued writes were written. */
  recovered?(event: { flushed: number; downMs: number }): void;
  /** The queue was full and the oldest write was dropped (fail-open without a spool only). */
  dropped?(event: { kind: QueuedWrite["kind"] }): void;
  /** A write went to the spool; `first`: the spool was empty before it (spooling starts). */
  spooled?(event: { kind: QueuedWrite["kind"]; first: boolean; depth: number }): void;
  /** Spooled writes were applied to the store; `drained`: nothing is left. */
  replayed?(event: { count: number; drained: boolean; depth: number }): void;
  /** The store refused a spooled write (not for being down): skipped so the rest can go. */
  replayRejected?(event: { kind: QueuedWrite["kind"]; error: Error }): void;
  /** The spool could not keep a write either (disk full, unwritable): it is lost to the ledger. */
  spoolFailed?(event: { kind: QueuedWrite["kind"]; error: Error }): void;
}

type QueuedWrite = SpooledWrite;
/** Writes made after the answer was sent: kept (spooled) under either policy. */
const USAGE_WRITES = new Set<QueuedWrite["kind"]>(["settle", "record", "release"]);

export interface ResilientOptions {
  policy: FailurePolicy;
  hooks?: ResilienceHooks;
  /** Where fail-open serves from; default an in-memory SQLite store. */
  fallback?: GatewayState;
  /** How often a down store is probed. Default 1000 ms. */
  probeMs?: number;
  /** Queued writes kept at most (fail-open without a spool). Default 100,000. */
  maxQueue?: number;
  /** Where failed writes are kept durably; without one, fail-open queues in memory and fail-closed loses them (the caller logs them). */
  spool?: Spool;
  /** How often, while the store is up, the spool is checked for files of dead processes. Default 15,000 ms. */
  scanMs?: number;
}

export class ResilientState implements GatewayState {
  private readonly fallback: GatewayState;
  private readonly queue: QueuedWrite[] = [];
  private downSince: number | undefined;
  private probe: ReturnType<typeof setInterval> | undefined;
  private flushing: Promise<void> | undefined;
  private readonly scan: ReturnType<typeof setInterval> | undefined;
  /** Where failed writes are spooled (the spool's directory), for the start-up log line. */
  readonly spoolDir: string | undefined;

  constructor(
    private readonly primary: GatewayState,
    private readonly options: ResilientOptions,
  ) {
    this.fallback = options.fallback ?? new SqliteState(":memory:");
    this.spoolDir = options.spool?.dir;
    if (options.spool) {
      // what a killed predecessor or a dead sibling worker left: at start, then now and then
      void this.drainSpool();
      this.scan = setInterval(() => void this.drainSpool(), options.scanMs ?? 15_000);
      this.scan.unref?.();
    }
  }

  /** While the store is up: replays the spool (own leftovers and orphans); a failure marks it down. */
  drainSpool(): Promise<void> {
    if (this.downSince !== undefined) return this.tryRecover();
    this.flushing ??= (async () => {
      try {
        const spool = this.options.spool as Spool;
        const result = await spool.replay((w) => this.replayOne(w));
        this.reportReplay(result.replayed);
        if (result.error instanceof StateUnavailable) this.markDown("replay", result.error);
        else if (result.error !== undefined) throw result.error;
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  /** A spooled write the store refuses for a reason other than being down (bad data) would block the rest: reported and skipped. */
  private async replayOne(w: QueuedWrite): Promise<void> {
    try {
      await this.apply(w);
    } catch (e) {
      if (e instanceof StateUnavailable) throw e;
      this.options.hooks?.replayRejected?.({ kind: w.kind, error: e as Error });
    }
  }

  private reportReplay(count: number): void {
    if (count === 0) return;
    const depth = this.options.spool?.depth ?? 0;
    this.options.hooks?.replayed?.({ count, drained: depth === 0, depth });
  }

  /** The store's roll-ups: the console reads the store or hears it is down (never the fail-open stand-in). */
  get rollups(): UsageRollups {
    return this.primary.rollups;
  }

  /** For /readyz: false while the store is down under fail-closed. */
  ready(): boolean {
    return this.downSince === undefined || this.options.policy === "open";
  }

  get degraded(): boolean {
    return this.downSince !== undefined;
  }

  /** Writes waiting for the store: in the spool, or in memory without one. */
  get queued(): number {
    return this.queue.length + (this.options.spool?.depth ?? 0);
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
        const spool = this.options.spool;
        if (spool) {
          // until nothing is left: writes spooled while replaying are replayed too
          do {
            const result = await spool.replay((w) => this.replayOne(w));
            flushed += result.replayed;
            if (result.error !== undefined) {
              this.reportReplay(result.replayed);
              throw result.error;
            }
          } while (spool.holding);
          this.reportReplay(flushed);
        }
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

  private async apply(w: QueuedWrite): Promise<unknown> {
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
        if (this.options.policy === "closed" && !(this.options.spool && USAGE_WRITES.has(w.kind))) throw e;
      }
    }
    const spool = this.options.spool;
    if (this.options.policy === "closed") {
      // the answer was sent: its usage must not be lost; anything else is refused
      if (!spool || !USAGE_WRITES.has(w.kind)) throw new StateUnavailable(`the gateway state store is unreachable (since ${new Date(this.downSince as number).toISOString()}); the write was not made`);
      await this.toSpool(spool, w);
      return;
    }
    if (spool) await this.toSpool(spool, w);
    else {
      if (this.queue.length >= (this.options.maxQueue ?? 100_000)) this.options.hooks?.dropped?.({ kind: (this.queue.shift() as QueuedWrite).kind });
      this.queue.push(w);
    }
    await this.applyLocally(w);
  }

  private async toSpool(spool: Spool, w: QueuedWrite): Promise<void> {
    const first = !spool.holding;
    try {
      await spool.append(w);
    } catch (e) {
      this.options.hooks?.spoolFailed?.({ kind: w.kind, error: e as Error });
      throw e;
    }
    this.options.hooks?.spooled?.({ kind: w.kind, first, depth: spool.depth });
  }

  private async applyLocally(w: QueuedWrite): Promise<void> {
    if (w.kind === "settle") await this.fallback.settle(w.reservation, w.record);
    else if (w.kind === "record") await this.fallback.recordUsage(w.record);
    else if (w.kind === "release") await this.fallback.release(w.reservation);
    else if (w.kind === "revoke") await this.fallback.revoke(w.revocation);
    else await this.fallback.restore(w.tenant, w.revocationKind, w.value);
  }

  reserve(person: Person, estimate: Estimate, options?: ReserveOptions): Promise<ReserveResult> {
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
  /** A batch to the store in one go; if the store is (or goes) down, each write takes the single-write path (spool or queue). */
  async writeUsage(writes: readonly UsageWrite[]): Promise<void> {
    if (this.downSince === undefined) {
      try {
        await this.primary.writeUsage(writes);
        return;
      } catch (e) {
        if (!(e instanceof StateUnavailable)) throw e;
        this.markDown("writeUsage", e);
      }
    }
    const results = await Promise.allSettled(writes.map((w) => this.write(w.kind, w)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }
  budgetStatus(person: Person, now?: number, extraBudgets?: readonly Budget[]): Promise<BudgetStatus[]> {
    return this.serve("budgetStatus", (s) => s.budgetStatus(person, now, extraBudgets));
  }
  admit(person: Person, tokens: number, options?: AdmitOptions): Promise<RateDecision> {
    return this.serve("admit", (s) => s.admit(person, tokens, options));
  }
  chargeTokens(person: Person, tokens: number, options?: AdmitOptions): Promise<void> {
    return this.serve("chargeTokens", (s) => s.chargeTokens(person, tokens, options));
  }
  revoke(revocation: Revocation): Promise<void> {
    return this.write("revoke", { kind: "revoke", revocation });
  }
  /** Whether a revocation was lifted; under fail-open with the store down it is spooled and the answer is true (not known yet). */
  async restore(tenant: string, kind: RevocationKind, value: string): Promise<boolean> {
    if (this.downSince === undefined) {
      try {
        return await this.primary.restore(tenant, kind, value);
      } catch (e) {
        if (!(e instanceof StateUnavailable)) throw e;
        this.markDown("restore", e);
      }
    }
    await this.write("restore", { kind: "restore", tenant, revocationKind: kind, value });
    return true;
  }
  isRevoked(tenant: string, identity: TokenIdentity, now?: number): Promise<Revocation | null> {
    return this.serve("isRevoked", (s) => s.isRevoked(tenant, identity, now));
  }
  notePerson(person: SeenPerson): Promise<void> {
    return this.serve("notePerson", (s) => s.notePerson(person));
  }
  findPeople(tenant: string, value: string, kind?: UserKind): Promise<SeenPerson[]> {
    return this.serve("findPeople", (s) => s.findPeople(tenant, value, kind));
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
  policyVersion(tenant: string): Promise<string> {
    return this.serve("policyVersion", (s) => s.policyVersion(tenant));
  }
  // coordination and audit: the store decides, or the caller hears it is down (alerts and checks retry; an admin is told)
  claimOnce(key: string, claimant: string, ttlMs: number): Promise<boolean> {
    return this.primary.claimOnce(key, claimant, ttlMs);
  }
  appendAudit(entry: AuditEntry, options?: { retentionMs?: number }): Promise<void> {
    return this.primary.appendAudit(entry, options);
  }
  listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    return this.primary.listAudit(query);
  }
  ping(): Promise<boolean> {
    return this.primary.ping();
  }
  async close(): Promise<void> {
    clearInterval(this.probe);
    clearInterval(this.scan);
    while (this.flushing) await this.flushing.catch(() => {});
    await this.tryRecover();
    // what is still spooled stays on disk for the next process
    await this.options.spool?.close();
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }
}
