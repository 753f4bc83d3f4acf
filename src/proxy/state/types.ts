/**
 * The gateway's shared state behind one interface: usage ledger, budget counters with
 * reservations, rate-limit windows, denylist, and the budget/limit settings admins change.
 * Implementations: SQLite (one host, several processes) and Redis (several replicas).
 * Every time is epoch milliseconds; days and months are UTC.
 */

export type SubjectKind = "user" | "group" | "tenant";
/** A user is named by `sub`, username or email (emails compared lower-case); a tenant by "*". */
export interface Subject {
  kind: SubjectKind;
  id: string;
}

/** Who a request is for, as the verified token and the IdP say. */
export interface Person {
  tenant: string;
  sub: string;
  username?: string;
  email?: string;
  /** Email if known, else username, else sub. */
  displayName: string;
  groups: readonly string[];
}

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheCreation5mInputTokens: number;
  cacheCreation1hInputTokens: number;
  cacheReadInputTokens: number;
  webSearchRequests: number;
}

export interface UsageRecord extends TokenCounts {
  /** The gateway's request id: the ledger keeps one record per id (a retried write is ignored). */
  requestId: string;
  upstreamRequestId?: string;
  time: number;
  tenant: string;
  sub: string;
  displayName: string;
  groups: readonly string[];
  model: string;
  /** null: the model had no price; the tokens still count. */
  costMicroUsd: number | null;
}

export type UsageDimension = "user" | "group" | "model" | "day";

export interface UsageQuery {
  tenant: string;
  /** Inclusive UTC days, YYYY-MM-DD. */
  since: string;
  until: string;
  by: UsageDimension;
  /** Only this user's records (a sub). */
  sub?: string;
}

export interface UsageRow extends TokenCounts {
  /** The sub, group, model or day. A record without groups counts under group "". */
  key: string;
  /** For by=user: the latest display name seen. */
  displayName?: string;
  requests: number;
  costMicroUsd: number;
  /** Requests whose cost is unknown (model not priced): excluded from costMicroUsd. */
  unpricedRequests: number;
}

export type Period = "day" | "month";
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

/** What an admin's `--user` value is, when they say (`kind`); otherwise it may be any of them. */
export type UserKind = "sub" | "username" | "email";

/** `user`: the person whose sub, username or email is the value (compared without regard to case); `origin_jti`: one sign-in. */
export type RevocationKind = UserKind | "user" | "origin_jti";

export interface Revocation {
  tenant: string;
  kind: RevocationKind;
  value: string;
  /** Expires on its own: the longest access-token lifetime after the revocation. */
  until: number;
  at: number;
  by?: string;
  reason?: string;
}

/** A person the gateway has seen a verified token of, as the state store remembers them. */
export interface SeenPerson {
  tenant: string;
  sub: string;
  username?: string;
  /** Lower-case; from the token, or from the IdP's userInfo for pools that sign in with email. */
  email?: string;
  displayName: string;
  firstSeen: number;
  lastSeen: number;
}

export interface TokenIdentity {
  sub?: string;
  username?: string;
  email?: string;
  origin_jti?: string;
}

/** A usage write made after the answer was sent: what the batcher groups and the spool keeps. */
export type UsageWrite =
  | { kind: "settle"; reservation: Reservation; record: UsageRecord }
  | { kind: "record"; record: UsageRecord }
  | { kind: "release"; reservation: Reservation };

export interface GatewayState {
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

  // budgets: counters move only through reserve/settle/release/expiry
  /** Atomically checks every budget of the person (user, groups, tenant), and reserves the estimate on all of their counters if no hard budget would be exceeded. */
  reserve(person: Person, estimate: Estimate, options?: { now?: number; ttlMs?: number }): Promise<ReserveResult>;
  /** Records the usage and moves the counters from the estimate to the real spend (idempotent by requestId; a reservation that expired meanwhile is charged in full). */
  settle(reservation: Reservation, record: UsageRecord): Promise<void>;
  /** Gives back a reservation that will not be settled (error, client gone). */
  release(reservation: Reservation): Promise<void>;
  budgetStatus(person: Person, now?: number): Promise<BudgetStatus[]>;

  // rate limits
  /** Counts one request and `tokens` against every applicable window, unless one would be exceeded. */
  admit(person: Person, tokens: number, options?: { now?: number; defaults?: RateDefaults }): Promise<RateDecision>;
  /** Adds tokens learnt after the response (actual minus what admit counted; may be negative). */
  chargeTokens(person: Person, tokens: number, options?: { now?: number; defaults?: RateDefaults }): Promise<void>;

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
