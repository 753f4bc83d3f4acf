/**
 * The gateway's shared state behind one interface: usage ledger, budget counters with
 * reservations, rate-limit windows, denylist, people seen, and the budget/limit settings admins
 * change. The domain it stores is in ../model/. Implementations: SQLite (one host, several
 * processes) and Redis (several replicas). Every time is epoch milliseconds; days and months are UTC.
 */
import type { ClaimOnce } from "../coordination/claim-once.ts";
import type { AuditEntry, AuditQuery } from "../model/audit.ts";
import type { Budget, BudgetStatus, BudgetUnit, Estimate, Reservation, ReserveResult } from "../model/budgets.ts";
import type { Period } from "../model/periods.ts";
import type { Person, SeenPerson, TokenIdentity, UserKind } from "../model/person.ts";
import type { RateDecision, RateDefaults, RateLimit } from "../model/rate-windows.ts";
import type { Revocation, RevocationKind } from "../model/revocations.ts";
import type { Subject } from "../model/subjects.ts";
import type { UsageQuery, UsageRecord, UsageRow } from "../model/usage.ts";
import type { UsageRollups } from "../rollup/types.ts";

/** A usage write made after the answer was sent: what the batcher groups and the spool keeps. */
export type UsageWrite =
  | { kind: "settle"; reservation: Reservation; record: UsageRecord }
  | { kind: "record"; record: UsageRecord }
  | { kind: "release"; reservation: Reservation };

export interface ReserveOptions {
  now?: number;
  ttlMs?: number;
  /** Budgets that are not stored (the tenant policy's), checked exactly like stored ones on the same counters. */
  extraBudgets?: readonly Budget[];
}

export interface AdmitOptions {
  now?: number;
  defaults?: RateDefaults;
  /** Limits that are not stored (the tenant policy's), counted on the same windows as stored ones. */
  extraLimits?: readonly RateLimit[];
}

export interface GatewayState extends ClaimOnce {
  // ledger
  /** Records a request's usage without a reservation (idempotent by requestId). */
  recordUsage(record: UsageRecord): Promise<void>;
  usageReport(query: UsageQuery): Promise<UsageRow[]>;
  /**
   * Applies several usage writes at once (one transaction, or one pipelined burst of scripts):
   * the same effect as making them one by one, each idempotent. Rejects as a whole; the caller
   * retries them one by one to find the one at fault.
   */
  writeUsage(writes: readonly UsageWrite[]): Promise<void>;

  /**
   * The usage pre-aggregated per day, week and month (rollup/types.ts), written with the ledger:
   * the console reads it. Same store; closed with it.
   */
  readonly rollups: UsageRollups;

  // budgets: counters move only through reserve/settle/release/expiry
  /** Atomically checks every budget of the person (user, groups, tenant), and reserves the estimate on all of their counters if no hard budget would be exceeded. */
  reserve(person: Person, estimate: Estimate, options?: ReserveOptions): Promise<ReserveResult>;
  /** Records the usage and moves the counters from the estimate to the real spend (idempotent by requestId; a reservation that expired meanwhile is charged in full). */
  settle(reservation: Reservation, record: UsageRecord): Promise<void>;
  /** Gives back a reservation that will not be settled (error, client gone). */
  release(reservation: Reservation): Promise<void>;
  /** Every budget of the person with its counter now; `extraBudgets` as reserve's. */
  budgetStatus(person: Person, now?: number, extraBudgets?: readonly Budget[]): Promise<BudgetStatus[]>;

  // rate limits
  /** Counts one request and `tokens` against every applicable window, unless one would be exceeded. */
  admit(person: Person, tokens: number, options?: AdmitOptions): Promise<RateDecision>;
  /** Adds tokens learnt after the response (actual minus what admit counted; may be negative). */
  chargeTokens(person: Person, tokens: number, options?: AdmitOptions): Promise<void>;

  // denylist
  revoke(revocation: Revocation): Promise<void>;
  restore(tenant: string, kind: RevocationKind, value: string): Promise<boolean>;
  isRevoked(tenant: string, identity: TokenIdentity, now?: number): Promise<Revocation | null>;
  listRevocations(tenant: string, now?: number): Promise<Revocation[]>;

  // people seen
  /** Remembers a person seen with a verified token: identifiers, display name, last seen (first seen kept; a known email kept when this sighting has none). */
  notePerson(person: SeenPerson): Promise<void>;
  /** The people seen whose sub, username or email (only `kind`, when given) is `value`, compared without regard to case. */
  findPeople(tenant: string, value: string, kind?: UserKind): Promise<SeenPerson[]>;

  // settings
  setBudget(budget: Budget): Promise<void>;
  /** Clears the subject's budgets for the period (one unit, or both); returns how many. */
  clearBudget(tenant: string, subject: Subject, period: Period, unit?: BudgetUnit): Promise<number>;
  listBudgets(tenant: string): Promise<Budget[]>;
  setLimit(limit: RateLimit): Promise<void>;
  clearLimit(tenant: string, subject: Subject): Promise<boolean>;
  listLimits(tenant: string): Promise<RateLimit[]>;
  /** Changes whenever the tenant's budgets or limits change (on any replica): a cached copy of them is current while this is unchanged. */
  policyVersion(tenant: string): Promise<string>;

  // coordination: `claimOnce(key, claimant, ttlMs)` (coordination/claim-once.ts), the first claimant holds the key until it expires

  // audit (append-only through the API)
  /** Appends one row; rows older than `retentionMs` (default 400 days) are pruned meanwhile. */
  appendAudit(entry: AuditEntry, options?: { retentionMs?: number }): Promise<void>;
  /** The tenant's rows since `since`, oldest first. */
  listAudit(query: AuditQuery): Promise<AuditEntry[]>;

  /** Cheap round trip: false when the store cannot be reached. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export type StateErrorCode = "STATE_UNAVAILABLE" | "STATE_CORRUPT" | "STATE_URL" | "STATE_INPUT" | "STATE_SPOOL";

export class StateError extends Error {
  constructor(
    readonly code: StateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The store cannot be reached: the HTTP layer answers 503 overloaded_error, /readyz false. */
export class StateUnavailable extends StateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STATE_UNAVAILABLE", message, options);
  }
}

/** Stored settings plus the policy's (not stored), for one check. */
export function withExtra<T>(stored: readonly T[], extra: readonly T[] | undefined): T[] {
  return extra && extra.length > 0 ? [...stored, ...extra] : (stored as T[]);
}
