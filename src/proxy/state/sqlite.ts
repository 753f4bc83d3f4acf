/**
 * Gateway state in SQLite (bun:sqlite): the embedded default for one host. WAL lets readers
 * run beside the writer; every read-modify-write runs in a BEGIN IMMEDIATE transaction, so the
 * worker processes of one host sharing the file take turns (busy_timeout waits for the lock)
 * and never both pass a budget check. synchronous=NORMAL: a committed write survives the
 * process being killed; only an OS crash may lose the last transactions.
 */
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { budgetCounter, budgetStatus, counterKey, countersFor, type CounterValue, fits, RESERVATION_TTL_MS, recordCounters, type Budget, type BudgetStatus, type BudgetUnit, type CounterRef, type Estimate, type Reservation, type ReserveResult } from "../model/budgets.ts";
import { dayKey, type Period } from "../model/periods.ts";
import { normaliseUserId, type Person, type SeenPerson, type TokenIdentity, type UserKind } from "../model/person.ts";
import { admits, describeWindows, WINDOW_MS, windowStart, windowsFor, type WindowCounts, type RateDecision, type RateLimit } from "../model/rate-windows.ts";
import { identityKeys, revocationValue, type Revocation, type RevocationKind } from "../model/revocations.ts";
import type { Subject, SubjectKind } from "../model/subjects.ts";
import { tokensOf, type UsageQuery, type UsageRecord, type UsageRow } from "../model/usage.ts";
import { DAY_MS, DEFAULT_AUDIT_LIMIT, DEFAULT_AUDIT_RETENTION_DAYS, type AuditEntry, type AuditQuery } from "../model/audit.ts";
import { checkAudit, checkBudget, checkLimit, checkQuery, checkRecord, checkRevocation, checkSubject, checkSeenPerson, groupsOf } from "./checks.ts";
import { type AdmitOptions, type GatewayState, type ReserveOptions, StateError, StateUnavailable, type UsageWrite, withExtra } from "./types.ts";
import { SqliteWriterThread } from "./sqlite-writer.ts";
import { dayOf } from "../../shared/console-api.ts";
import { applyRollups, ensureRollupSchema, pruneRollups, SqliteRollups } from "../rollup/sqlite.ts";
import type { UsageRollups } from "../rollup/types.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS usage (
  tenant TEXT NOT NULL, request_id TEXT NOT NULL, upstream_request_id TEXT, time INTEGER NOT NULL, day TEXT NOT NULL,
  sub TEXT NOT NULL, display_name TEXT NOT NULL, groups TEXT NOT NULL, model TEXT NOT NULL,
  input INTEGER NOT NULL, output INTEGER NOT NULL, cache_write INTEGER NOT NULL, cache_write_5m INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL,
  cache_read INTEGER NOT NULL, web_search INTEGER NOT NULL, cost_micro INTEGER,
  PRIMARY KEY (tenant, request_id)
);
CREATE TABLE IF NOT EXISTS counters (tenant TEXT NOT NULL, key TEXT NOT NULL, usd INTEGER NOT NULL, tokens INTEGER NOT NULL, held_usd INTEGER NOT NULL DEFAULT 0, held_tokens INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tenant, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, expires INTEGER NOT NULL, usd INTEGER NOT NULL, tokens INTEGER NOT NULL, counters TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS reservations_expiry ON reservations (tenant, expires);
CREATE TABLE IF NOT EXISTS windows (tenant TEXT NOT NULL, key TEXT NOT NULL, start INTEGER NOT NULL, requests INTEGER NOT NULL, tokens INTEGER NOT NULL, last INTEGER, PRIMARY KEY (tenant, key, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revocations (tenant TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, until INTEGER NOT NULL, at INTEGER NOT NULL, by TEXT, reason TEXT, PRIMARY KEY (tenant, kind, value)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budgets (tenant TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, period TEXT NOT NULL, unit TEXT NOT NULL, lim INTEGER NOT NULL, soft INTEGER NOT NULL, PRIMARY KEY (tenant, kind, id, period, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS limits (tenant TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, rpm INTEGER, tpm INTEGER, PRIMARY KEY (tenant, kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_versions (tenant TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS people (tenant TEXT NOT NULL, sub TEXT NOT NULL, username TEXT, username_key TEXT, email TEXT, display_name TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (tenant, sub)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS people_username ON people (tenant, username_key);
CREATE INDEX IF NOT EXISTS people_email ON people (tenant, email);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, claimant TEXT NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, time INTEGER NOT NULL, actor TEXT NOT NULL, actor_sub TEXT, action TEXT NOT NULL, target TEXT NOT NULL, old TEXT, new TEXT, request_id TEXT);
CREATE INDEX IF NOT EXISTS audit_time ON audit (tenant, time);
`;

/**
 * Reports by day range read the ledger through this index, in a file. In memory the ledger is
 * capped (a full scan of it is milliseconds) and every record is inserted and later deleted, so
 * the index would cost each request twice (measured: insert 3.9 → 2.1 µs a row without it).
 */
const USAGE_DAY_INDEX = "CREATE INDEX IF NOT EXISTS usage_day ON usage (tenant, day);";

/**
 * The roll-ups' own bookkeeping: `backfill_upto` / `backfill_cursor` (the ledger's rowids still
 * to count, set when the roll-ups first meet a ledger that has records), `pruned_day`.
 */
const ROLLUP_META = "CREATE TABLE IF NOT EXISTS rollup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;";
/**
 * Ledger rows counted per backfill transaction: ~12 ms each (measured ~50 µs a row), followed by
 * a pause as long as the step took, so the usage writes queued behind a step (on the writer
 * thread; on the event loop for an in-memory store, requests) wait no longer than one step.
 */
const BACKFILL_ROWS = 250;
const BACKFILL_MIN_PAUSE_MS = 5;
/** How often the roll-ups' upkeep looks for work (the prune itself runs once a UTC day). */
const UPKEEP_EVERY_MS = 3_600_000;

/** Columns added since the first schema: added to an older file at open (in the same transaction). */
const ADDED_COLUMNS: [table: string, column: string, definition: string][] = [
  ["counters", "held_usd", "INTEGER NOT NULL DEFAULT 0"],
  ["counters", "held_tokens", "INTEGER NOT NULL DEFAULT 0"],
  ["windows", "last", "INTEGER"],
  // the pool member that served; records from before pools count under ""
  ["usage", "upstream", "TEXT NOT NULL DEFAULT ''"],
  ["people", "groups_json", "TEXT"],
];

interface AuditRow { tenant: string; time: number; actor: string; actor_sub: string | null; action: string; target: string; old: string | null; new: string | null; request_id: string | null }
const toAudit = (r: AuditRow): AuditEntry => ({ time: r.time, tenant: r.tenant, actor: r.actor, ...(r.actor_sub !== null ? { actorSub: r.actor_sub } : {}), action: r.action, target: r.target, old: r.old === null ? null : JSON.parse(r.old), new: r.new === null ? null : JSON.parse(r.new), ...(r.request_id !== null ? { requestId: r.request_id } : {}) });
interface PersonRow { tenant: string; sub: string; username: string | null; username_key: string | null; email: string | null; display_name: string; groups_json: string | null; first_seen: number; last_seen: number }
interface RevocationRow { tenant: string; kind: RevocationKind; value: string; until: number; at: number; by: string | null; reason: string | null }
interface BudgetRow { tenant: string; kind: SubjectKind; id: string; period: Period; unit: BudgetUnit; lim: number; soft: number }
interface LimitRow { tenant: string; kind: SubjectKind; id: string; rpm: number | null; tpm: number | null }

const toRevocation = (r: RevocationRow): Revocation => ({ tenant: r.tenant, kind: r.kind, value: r.value, until: r.until, at: r.at, ...(r.by ? { by: r.by } : {}), ...(r.reason ? { reason: r.reason } : {}) });
const toPerson = (r: PersonRow): SeenPerson => ({ tenant: r.tenant, sub: r.sub, ...(r.username !== null ? { username: r.username } : {}), ...(r.email !== null ? { email: r.email } : {}), displayName: r.display_name, ...groupsOf(r.groups_json), firstSeen: r.first_seen, lastSeen: r.last_seen });
const toBudget = (r: BudgetRow): Budget => ({ tenant: r.tenant, subject: { kind: r.kind, id: r.id }, period: r.period, unit: r.unit, limit: r.lim, soft: r.soft === 1 });
const toLimit = (r: LimitRow): RateLimit => ({ tenant: r.tenant, subject: { kind: r.kind, id: r.id }, ...(r.rpm !== null ? { rpm: r.rpm } : {}), ...(r.tpm !== null ? { tpm: r.tpm } : {}) });

const RECORD_PEOPLE_MAX = 10_000;

/** A ledger row as the backfill reads it, with the person's identifiers from the people seen. */
interface LedgerRow {
  tenant: string; request_id: string; time: number; sub: string; display_name: string; groups: string; model: string;
  input: number; output: number; cache_write: number; cache_write_5m: number; cache_write_1h: number; cache_read: number; web_search: number; cost_micro: number | null;
  username: string | null; email: string | null;
}

const ledgerRecord = (r: LedgerRow): UsageRecord => ({
  requestId: r.request_id, time: r.time, tenant: r.tenant, sub: r.sub, displayName: r.display_name, groups: JSON.parse(r.groups) as string[], model: r.model,
  ...(r.username !== null ? { username: r.username } : {}), ...(r.email !== null ? { email: r.email } : {}),
  inputTokens: r.input, outputTokens: r.output, cacheCreationInputTokens: r.cache_write, cacheCreation5mInputTokens: r.cache_write_5m, cacheCreation1hInputTokens: r.cache_write_1h,
  cacheReadInputTokens: r.cache_read, webSearchRequests: r.web_search, costMicroUsd: r.cost_micro,
});

interface CounterSum { usd: number; tokens: number; heldUsd: number; heldTokens: number }
const NOTHING_HELD = { usd: 0, tokens: 0 } as const;

interface RecordPerson {
  tenant: string;
  sub: string;
  day: string;
  groupsJson: string;
  counterKeys: readonly string[];
}

const USAGE_COLUMNS = "tenant, request_id, upstream_request_id, time, day, sub, display_name, groups, model, input, output, cache_write, cache_write_5m, cache_write_1h, cache_read, web_search, cost_micro, upstream";
const USAGE_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/** Records inserted by one statement at most (18 values each). */
const ROWS_PER_INSERT = 32;

/** A record's values in the usage table's column order. */
function usageValues(r: UsageRecord, person: RecordPerson, into: (string | number | null)[]): void {
  into.push(
    r.tenant, r.requestId, r.upstreamRequestId ?? null, r.time, person.day, r.sub, r.displayName, person.groupsJson, r.model, r.inputTokens, r.outputTokens,
    r.cacheCreationInputTokens, r.cacheCreation5mInputTokens, r.cacheCreation1hInputTokens, r.cacheReadInputTokens, r.webSearchRequests, r.costMicroUsd,
    r.upstream ?? "",
  );
}

/** The statements every request runs, compiled once (`db.query` looks its cache up by the SQL text at each call). */
function prepareHot(db: Database) {
  return {
    insertUsage: db.prepare<never, (string | number | null)[]>(`INSERT OR IGNORE INTO usage (${USAGE_COLUMNS}) VALUES ${USAGE_ROW}`),
    savepoint: db.prepare("SAVEPOINT usage_rows"),
    release: db.prepare("RELEASE usage_rows"),
    rollback: db.prepare("ROLLBACK TO usage_rows"),
    addCounter: db.prepare<never, [string, string, number, number, number, number]>(
      "INSERT INTO counters (tenant, key, usd, tokens, held_usd, held_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant, key) DO UPDATE SET usd = usd + ?3, tokens = tokens + ?4, held_usd = held_usd + ?5, held_tokens = held_tokens + ?6",
    ),
    dropReservation: db.prepare<{ usd: number; tokens: number }, [string]>("DELETE FROM reservations WHERE id = ? RETURNING usd, tokens"),
    policyVersion: db.prepare<{ v: number }, [string]>("SELECT v FROM policy_versions WHERE tenant = ?"),
  };
}

export interface SqliteOptions {
  /**
   * Where usage writes (settle, record, release) commit: "thread", a file's default, on a thread
   * with its own connection (sqlite-writer.ts), so commits, WAL checkpoints and waits for another
   * process's lock stay off the event loop; or "inline", on this connection (":memory:" always).
   */
  usageWrites?: "thread" | "inline";
  /** How long a write waits for another connection's lock before StateUnavailable. Default 10 s. */
  busyTimeoutMs?: number;
  /** With the writer thread: how long its oldest write may wait before new ones are refused (spooled). Default 1 s. */
  maxLagMs?: number;
  /**
   * Backfill and prune the roll-ups in the background, off the event loop where there is a writer
   * thread: the default is on the connection that commits the usage writes (the thread for a
   * file, which starts at open when a backfill is pending; this one otherwise).
   */
  rollupUpkeep?: boolean;
  /**
   * In memory only (":memory:"): the ledger keeps the latest this many records, so a gateway left
   * on the default state does not grow without bound. Budgets, limits and roll-ups keep counting
   * the older ones (their own tables). Default {@link MEMORY_LEDGER_ROWS}.
   */
  memoryLedgerRows?: number;
}

/** ~30 MB of SQLite pages at the default (measured, 500 people): weeks of a team's requests, days of a busy company's. */
export const MEMORY_LEDGER_ROWS = 100_000;
/** The trim's DELETE runs once this many records went in past the cap (not per write). */
const MEMORY_TRIM_SLACK = 0.05;

/** What one round of roll-up upkeep did. */
export interface RollupUpkeep {
  /** Ledger records counted into the roll-ups by the backfill. */
  backfilled: number;
  /** Whether the day's prune ran (at most once a UTC day per file). */
  pruned: boolean;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

export class SqliteState implements GatewayState {
  private readonly db: Database;
  private readonly hot: ReturnType<typeof prepareHot>;
  private readonly writer: SqliteWriterThread | undefined;
  /**
   * The usage roll-ups of this store (the console's reader): written in the ledger's own
   * transaction, read on this connection, so an in-memory store's are readable too.
   */
  readonly rollups: UsageRollups;
  private readonly upkeepTimers: ReturnType<typeof setTimeout>[] = [];
  private upkeep: Promise<RollupUpkeep> | undefined;
  private closed = false;

  /** `path` is a file (created with its directory) or ":memory:". */
  constructor(path: string, options: SqliteOptions = {}) {
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const inMemory = path === ":memory:";
    const threaded = !inMemory && (options.usageWrites ?? "thread") === "thread";
    try {
      if (!inMemory) mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path, { create: true, strict: true });
      this.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = NORMAL");
      // the writer thread commits nearly everything, and checkpoints there (its connection keeps the default)
      if (threaded) this.db.exec("PRAGMA wal_autocheckpoint = 0");
      this.db.transaction(() => {
        this.db.exec(SCHEMA);
        if (!inMemory) this.db.exec(USAGE_DAY_INDEX);
        for (const [table, column, definition] of ADDED_COLUMNS) {
          const columns = this.db.query<{ name: string }, []>(`PRAGMA table_info(${table})`).all();
          if (!columns.some((c) => c.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
        }
        const rollupsNew = this.db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rollup_meta'").get() === null;
        ensureRollupSchema(this.db);
        this.db.exec(ROLLUP_META);
        if (rollupsNew) this.planBackfill();
      }).immediate();
      // after the added columns: the hot statements name them
      this.hot = prepareHot(this.db);
      this.writer = threaded ? new SqliteWriterThread(path, { busyTimeoutMs, rollupUpkeep: options.rollupUpkeep ?? true, ...(options.maxLagMs !== undefined ? { maxLagMs: options.maxLagMs } : {}) }) : undefined;
      this.privateVersions = inMemory ? new Map() : undefined;
      this.memoryLedgerRows = inMemory ? Math.max(1, Math.floor(options.memoryLedgerRows ?? MEMORY_LEDGER_ROWS)) : undefined;
      this.rollups = new SqliteRollups(this.db);
      // the thread does the upkeep: started now if a backfill waits, not at the first request
      if (this.writer && (options.rollupUpkeep ?? true) && this.meta("backfill_upto") !== undefined) void this.writer.write([]).catch(() => {});
    } catch (e) {
      throw new StateError("STATE_UNAVAILABLE", `cannot open the state database ${path}: ${(e as Error).message}; check the path and its permissions`, { cause: e });
    }
    if (!threaded && (options.rollupUpkeep ?? true)) {
      // a failure (the file busy) is tried again at the next round
      const round = () => void this.maintainRollups().catch(() => {});
      this.upkeepTimers.push(setTimeout(round, 0), setInterval(round, UPKEEP_EVERY_MS));
      for (const t of this.upkeepTimers) t.unref?.();
    }
  }

  // ---- roll-ups: backfill and prune

  /**
   * The roll-ups meet a ledger for the first time (this schema transaction created them): if the
   * ledger has records and the roll-ups have none, the records up to the ledger's last rowid are
   * to be counted (later ones are counted as they are inserted). The ledger is never deleted from,
   * so rowids only grow.
   */
  private planBackfill(): void {
    const upto = this.db.query<{ m: number | null }, []>("SELECT max(rowid) AS m FROM usage").get()?.m ?? null;
    const counted = this.db.query("SELECT 1 FROM rollup_model LIMIT 1").get() !== null;
    if (upto === null || counted) return;
    this.db.query("INSERT OR REPLACE INTO rollup_meta (key, value) VALUES ('backfill_upto', ?), ('backfill_cursor', '0')").run(String(upto));
  }

  private meta(key: string): string | undefined {
    return this.db.query<{ value: string }, [string]>("SELECT value FROM rollup_meta WHERE key = ?").get(key)?.value;
  }

  /**
   * Counts the next {@link BACKFILL_ROWS} ledger records of the backfill into the roll-ups, and
   * moves its cursor, in one transaction: a crash, a second run or another process running it at
   * the same time counts no record twice. Returns how many it counted (0: nothing left).
   */
  private backfillStep(): number {
    return this.tx(() => {
      const upto = this.meta("backfill_upto");
      if (upto === undefined) return 0;
      const rows = this.db
        .query<LedgerRow & { rowid: number }, [number, number, number]>(
          `SELECT u.rowid AS rowid, u.tenant, u.request_id, u.time, u.sub, u.display_name, u.groups, u.model, u.input, u.output, u.cache_write, u.cache_write_5m, u.cache_write_1h, u.cache_read, u.web_search, u.cost_micro, p.username, p.email
           FROM usage u LEFT JOIN people p ON p.tenant = u.tenant AND p.sub = u.sub WHERE u.rowid > ? AND u.rowid <= ? ORDER BY u.rowid LIMIT ?`,
        )
        .all(Number(this.meta("backfill_cursor") ?? 0), Number(upto), BACKFILL_ROWS);
      if (rows.length === 0) {
        this.db.query("DELETE FROM rollup_meta WHERE key IN ('backfill_upto', 'backfill_cursor')").run();
        return 0;
      }
      applyRollups(this.db, rows.map(ledgerRecord));
      this.db.query("UPDATE rollup_meta SET value = ? WHERE key = 'backfill_cursor'").run(String((rows.at(-1) as { rowid: number }).rowid));
      return rows.length;
    });
  }

  /** Prunes the roll-ups unless this file's were pruned today (UTC) already. */
  private pruneDaily(now: number): boolean {
    return this.tx(() => {
      const today = dayOf(now);
      if (this.meta("pruned_day") === today) return false;
      pruneRollups(this.db, now);
      this.db.query("INSERT OR REPLACE INTO rollup_meta (key, value) VALUES ('pruned_day', ?)").run(today);
      return true;
    });
  }

  /**
   * Roll-up upkeep, run at open and hourly (one round at a time): the backfill of records the
   * ledger held before the roll-ups existed, a transaction of {@link BACKFILL_ROWS} at a time with
   * a pause between (so requests go on being served), then the day's prune.
   */
  maintainRollups(now = Date.now()): Promise<RollupUpkeep> {
    if (this.upkeep) return this.upkeep;
    const round = (async () => {
      let backfilled = 0;
      for (let n = 1; n > 0 && !this.closed; ) {
        const started = performance.now();
        backfilled += n = this.backfillStep();
        if (n > 0) await Bun.sleep(Math.max(BACKFILL_MIN_PAUSE_MS, performance.now() - started));
      }
      return { backfilled, pruned: !this.closed && this.pruneDaily(now) };
    })();
    this.upkeep = round;
    // cleared once settled (after the assignment: a round with nothing to wait for ends synchronously)
    round.finally(() => this.upkeep === round && (this.upkeep = undefined)).catch(() => {});
    return round;
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction; SQLite failures become typed errors. */
  private tx<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      if (e instanceof StateError) throw e;
      // busy past busy_timeout: unavailable for now (503, usage spooled), not corrupt
      if ((e as { code?: string }).code?.startsWith("SQLITE_BUSY")) throw new StateUnavailable(`state database busy: ${(e as Error).message}`, { cause: e });
      throw new StateError("STATE_CORRUPT", `state database: ${(e as Error).message}`, { cause: e });
    }
  }

  // ---- counters and reservations

  private counter(tenant: string, c: CounterRef): CounterValue {
    const row = this.db.query<{ usd: number; tokens: number; held_usd: number; held_tokens: number }, [string, string]>("SELECT usd, tokens, held_usd, held_tokens FROM counters WHERE tenant = ? AND key = ?").get(tenant, counterKey(c));
    return { microUsd: row?.usd ?? 0, tokens: row?.tokens ?? 0, heldMicroUsd: row?.held_usd ?? 0, heldTokens: row?.held_tokens ?? 0 };
  }

  /** While a batch is written: counter changes summed per tenant and counter key, written once at its end. */
  private sums: Map<string, Map<string, CounterSum>> | undefined;

  /** Adds to the counters; `held`: the part that is a reservation's (requests in flight). */
  private add(tenant: string, counters: readonly CounterRef[], usd: number, tokens: number, held: { usd: number; tokens: number } = NOTHING_HELD): void {
    this.addKeys(tenant, counters.map(counterKey), usd, tokens, held);
  }

  private addKeys(tenant: string, keys: readonly string[], usd: number, tokens: number, held: { usd: number; tokens: number } = NOTHING_HELD): void {
    if (this.sums) {
      let byKey = this.sums.get(tenant);
      if (!byKey) this.sums.set(tenant, (byKey = new Map()));
      for (const key of keys) {
        const sum = byKey.get(key);
        if (sum) [sum.usd, sum.tokens, sum.heldUsd, sum.heldTokens] = [sum.usd + usd, sum.tokens + tokens, sum.heldUsd + held.usd, sum.heldTokens + held.tokens];
        else byKey.set(key, { usd, tokens, heldUsd: held.usd, heldTokens: held.tokens });
      }
      return;
    }
    for (const key of keys) this.hot.addCounter.run(tenant, key, usd, tokens, held.usd, held.tokens);
  }

  /** Gives back the estimates of reservations past their expiry (a replica that died never settled them). */
  private purgeExpired(tenant: string, now: number): void {
    const expired = this.db.query<{ id: string; usd: number; tokens: number; counters: string }, [string, number]>("SELECT id, usd, tokens, counters FROM reservations WHERE tenant = ? AND expires <= ?").all(tenant, now);
    for (const r of expired) {
      this.add(tenant, JSON.parse(r.counters) as CounterRef[], -r.usd, -r.tokens, { usd: -r.usd, tokens: -r.tokens });
      this.db.query("DELETE FROM reservations WHERE id = ?").run(r.id);
    }
  }

  /** Removes a live reservation and its estimate; false if it was gone already. */
  private drop(reservation: Reservation): boolean {
    const row = this.hot.dropReservation.get(reservation.id);
    if (!row) return false;
    this.add(reservation.tenant, reservation.counters, -row.usd, -row.tokens, { usd: -row.usd, tokens: -row.tokens });
    return true;
  }

  private statuses(person: Person, budgets: Budget[], now: number): { budget: Budget; ref: CounterRef; value: CounterValue }[] {
    return budgets.flatMap((budget) => {
      const ref = budgetCounter(budget, person, now);
      return ref ? [{ budget, ref, value: this.counter(person.tenant, ref) }] : [];
    });
  }

  async reserve(person: Person, estimate: Estimate, options: ReserveOptions = {}): Promise<ReserveResult> {
    const now = options.now ?? Date.now();
    return this.tx(() => {
      this.purgeExpired(person.tenant, now);
      const checks = this.statuses(person, withExtra(this.budgetsOf(person.tenant), options.extraBudgets), now);
      const refused = checks.find((c) => !c.budget.soft && !fits(c.budget, c.value, estimate));
      if (refused) return { ok: false, refusedBy: budgetStatus(refused.budget, refused.value, refused.ref.periodKey), statuses: checks.map((c) => budgetStatus(c.budget, c.value, c.ref.periodKey)) };
      const reservation: Reservation = { id: crypto.randomUUID(), tenant: person.tenant, estimate, counters: countersFor(person, now), expiresAt: now + (options.ttlMs ?? RESERVATION_TTL_MS) };
      this.add(person.tenant, reservation.counters, estimate.microUsd, estimate.tokens, { usd: estimate.microUsd, tokens: estimate.tokens });
      this.db.query("INSERT INTO reservations (id, tenant, expires, usd, tokens, counters) VALUES (?, ?, ?, ?, ?, ?)").run(reservation.id, person.tenant, reservation.expiresAt, estimate.microUsd, estimate.tokens, JSON.stringify(reservation.counters));
      const statuses = checks.map((c) => budgetStatus(c.budget, { microUsd: c.value.microUsd + estimate.microUsd, tokens: c.value.tokens + estimate.tokens, heldMicroUsd: (c.value.heldMicroUsd ?? 0) + estimate.microUsd, heldTokens: (c.value.heldTokens ?? 0) + estimate.tokens }, c.ref.periodKey));
      return { ok: true, reservation, statuses, warnings: statuses.filter((s) => s.budget.soft && s.used > s.budget.limit) };
    });
  }

  async settle(reservation: Reservation, record: UsageRecord): Promise<void> {
    return this.writeUsage([{ kind: "settle", reservation, record }]);
  }

  async release(reservation: Reservation): Promise<void> {
    return this.writeUsage([{ kind: "release", reservation }]);
  }

  async recordUsage(record: UsageRecord): Promise<void> {
    return this.writeUsage([{ kind: "record", record }]);
  }

  /**
   * One transaction for the lot (on a busy file, one wait for the write lock instead of one per
   * record), on the writer thread for a file. Records are checked here, so a bad one fails at once.
   */
  async writeUsage(writes: readonly UsageWrite[]): Promise<void> {
    for (const w of writes) if (w.kind !== "release") checkRecord(w.record);
    if (this.writer) return this.writer.write(writes);
    this.tx(() => {
      // a person's records in one batch share their counters: one upsert per counter, not per record
      const sums = (this.sums = new Map());
      const inserted: UsageRecord[] = [];
      try {
        const records: UsageRecord[] = [];
        for (const w of writes) {
          if (w.kind === "record") records.push(w.record);
          else this.applyUsage(w, inserted);
        }
        this.insertRecords(records, inserted);
      } finally {
        this.sums = undefined;
      }
      for (const [tenant, byKey] of sums) for (const [key, c] of byKey) this.hot.addCounter.run(tenant, key, c.usd, c.tokens, c.heldUsd, c.heldTokens);
      // exactly the records this transaction inserted (a replayed request id is not counted again), atomically with them
      applyRollups(this.db, inserted);
      this.trimMemoryLedger(inserted.length);
    });
  }

  /**
   * In memory, the oldest records beyond the cap go, in one DELETE by rowid (insertion order)
   * once the slack is used up. What they cost stays in the counters and the roll-ups.
   */
  private trimMemoryLedger(inserted: number): void {
    const cap = this.memoryLedgerRows;
    if (cap === undefined) return;
    this.memoryLedgerInserted += inserted;
    if (this.memoryLedgerInserted <= cap + Math.ceil(cap * MEMORY_TRIM_SLACK)) return;
    this.db.run("DELETE FROM usage WHERE rowid <= (SELECT max(rowid) FROM usage) - ?", [cap]);
    this.memoryLedgerInserted = cap;
  }

  private readonly memoryLedgerRows: number | undefined;
  /** Records inserted since the ledger was last at the cap (or opened): counts, never queries. */
  private memoryLedgerInserted = 0;

  private applyUsage(w: UsageWrite, inserted: UsageRecord[]): void {
    if (w.kind === "release") return void this.drop(w.reservation);
    const { record } = w;
    const person = this.recordPerson(record);
    if (!this.insertUsage(record, person)) {
      if (w.kind === "settle") this.drop(w.reservation);
      return;
    }
    inserted.push(record);
    const live = w.kind === "settle" && this.drop(w.reservation);
    if (live) this.add(record.tenant, w.reservation.counters, record.costMicroUsd ?? 0, tokensOf(record));
    else this.addKeys(record.tenant, person.counterKeys, record.costMicroUsd ?? 0, tokensOf(record));
  }

  async budgetStatus(person: Person, now = Date.now(), extraBudgets?: readonly Budget[]): Promise<BudgetStatus[]> {
    return this.tx(() => {
      this.purgeExpired(person.tenant, now);
      return this.statuses(person, withExtra(this.budgetsOf(person.tenant), extraBudgets), now).map((c) => budgetStatus(c.budget, c.value, c.ref.periodKey));
    });
  }

  // ---- ledger

  /** False if the request id was recorded already (a retried write). */
  private insertUsage(r: UsageRecord, person: RecordPerson): boolean {
    const values: (string | number | null)[] = [];
    usageValues(r, person, values);
    return this.hot.insertUsage.run(...values).changes === 1;
  }

  /** Multi-row INSERTs by size, compiled on first use. */
  private readonly insertRows = new Map<number, Statement<never, (string | number | null)[]>>();

  /**
   * Records without a reservation (the usual case), up to {@link ROWS_PER_INSERT} per statement:
   * one call into SQLite instead of one per record. A statement that finds a request id recorded
   * already (a replayed write) is rolled back and its records go one by one, so only the new
   * ones count.
   */
  private insertRecords(records: readonly UsageRecord[], inserted: UsageRecord[]): void {
    for (let i = 0; i < records.length; i += ROWS_PER_INSERT) {
      const chunk = records.slice(i, i + ROWS_PER_INSERT);
      const people = chunk.map((r) => this.recordPerson(r));
      const all = chunk.length > 1 && this.insertAll(chunk, people);
      chunk.forEach((r, j) => {
        const person = people[j] as RecordPerson;
        if (all || this.insertUsage(r, person)) {
          this.addKeys(r.tenant, person.counterKeys, r.costMicroUsd ?? 0, tokensOf(r));
          inserted.push(r);
        }
      });
    }
  }

  /** True if every record was new (then all are in); false (nothing in) if one was there already. */
  private insertAll(chunk: readonly UsageRecord[], people: readonly RecordPerson[]): boolean {
    let statement = this.insertRows.get(chunk.length);
    if (!statement) {
      statement = this.db.prepare(`INSERT OR IGNORE INTO usage (${USAGE_COLUMNS}) VALUES ${Array(chunk.length).fill(USAGE_ROW).join(", ")}`);
      this.insertRows.set(chunk.length, statement);
    }
    const values: (string | number | null)[] = [];
    chunk.forEach((r, j) => usageValues(r, people[j] as RecordPerson, values));
    this.hot.savepoint.run();
    if (statement.run(...values).changes === chunk.length) {
      this.hot.release.run();
      return true;
    }
    this.hot.rollback.run();
    this.hot.release.run();
    return false;
  }

  /**
   * What a record's columns and counters derive from its person and day, computed once per
   * (tenant, sub, groups, day) and reused: a busy person's records differ only in their figures.
   */
  private readonly recordPeople = new Map<string, RecordPerson>();
  /** On the event loop a person's records share the verified token's groups array: its last answer is tried first. */
  private readonly byGroups = new WeakMap<readonly string[], RecordPerson>();
  /** The UTC day of the last record seen, so most records skip the date formatting. */
  private lastDay = { start: 0, end: 0, key: "" };

  private recordPerson(r: UsageRecord): RecordPerson {
    let day = this.lastDay;
    if (r.time < day.start || r.time >= day.end) {
      const start = r.time - (((r.time % DAY_MS) + DAY_MS) % DAY_MS);
      this.lastDay = day = { start, end: start + DAY_MS, key: dayKey(r.time) };
    }
    const last = this.byGroups.get(r.groups);
    if (last && last.sub === r.sub && last.tenant === r.tenant && last.day === day.key) return last;
    // JSON: no two (sub, groups) pairs share a key, whatever characters they hold
    const groupsJson = JSON.stringify(r.groups);
    const id = JSON.stringify([r.tenant, r.sub, day.key]) + groupsJson;
    let person = this.recordPeople.get(id);
    if (!person) {
      if (this.recordPeople.size >= RECORD_PEOPLE_MAX) this.recordPeople.clear();
      person = { tenant: r.tenant, sub: r.sub, day: day.key, groupsJson, counterKeys: recordCounters(r).map(counterKey) };
      this.recordPeople.set(id, person);
    }
    this.byGroups.set(r.groups, person);
    return person;
  }

  async usageReport(q: UsageQuery): Promise<UsageRow[]> {
    checkQuery(q);
    const key = { user: "u.sub", model: "u.model", day: "u.day", group: "g.value", upstream: "u.upstream" }[q.by];
    const from = q.by === "group" ? `usage u, json_each(CASE WHEN u.groups = '[]' THEN '[""]' ELSE u.groups END) g` : "usage u";
    const rows = this.db
      .query<Record<string, number | string>, (string | number)[]>(
        `SELECT ${key} AS key, ${q.by === "user" ? "u.display_name AS display_name, max(u.time) AS latest," : ""} count(*) AS requests,
          sum(u.input) AS input, sum(u.output) AS output, sum(u.cache_write) AS cw, sum(u.cache_write_5m) AS cw5, sum(u.cache_write_1h) AS cw1, sum(u.cache_read) AS cr,
          sum(u.web_search) AS ws, coalesce(sum(u.cost_micro), 0) AS cost, sum(u.cost_micro IS NULL) AS unpriced
         FROM ${from} WHERE u.tenant = ? AND u.day BETWEEN ? AND ? ${q.sub ? "AND u.sub = ?" : ""} GROUP BY 1 ORDER BY 1`,
      )
      .all(...[q.tenant, q.since, q.until, ...(q.sub ? [q.sub] : [])]);
    return rows.map((r) => ({
      key: String(r.key),
      ...(q.by === "user" ? { displayName: String(r.display_name) } : {}),
      requests: Number(r.requests),
      inputTokens: Number(r.input),
      outputTokens: Number(r.output),
      cacheCreationInputTokens: Number(r.cw),
      cacheCreation5mInputTokens: Number(r.cw5),
      cacheCreation1hInputTokens: Number(r.cw1),
      cacheReadInputTokens: Number(r.cr),
      webSearchRequests: Number(r.ws),
      costMicroUsd: Number(r.cost),
      unpricedRequests: Number(r.unpriced),
    }));
  }

  // ---- rate limits

  private windowCounts(tenant: string, key: string, now: number): WindowCounts {
    const start = windowStart(now);
    const rows = this.db.query<{ start: number; requests: number; tokens: number; last: number | null }, [string, string, number, number]>("SELECT start, requests, tokens, last FROM windows WHERE tenant = ? AND key = ? AND start IN (?, ?)").all(tenant, key, start, start - WINDOW_MS);
    const curr = rows.find((r) => r.start === start);
    const prev = rows.find((r) => r.start !== start);
    return {
      prevRequests: prev?.requests ?? 0, currRequests: curr?.requests ?? 0, prevTokens: prev?.tokens ?? 0, currTokens: curr?.tokens ?? 0,
      ...(prev?.last != null ? { prevLast: prev.last } : {}), ...(curr?.last != null ? { currLast: curr.last } : {}),
    };
  }

  private bump(tenant: string, key: string, now: number, requests: number, tokens: number): void {
    this.db
      .query("INSERT INTO windows (tenant, key, start, requests, tokens, last) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET requests = requests + ?4, tokens = tokens + ?5, last = max(coalesce(last, 0), ?6)")
      .run(tenant, key, windowStart(now), requests, tokens, now);
  }

  async admit(person: Person, tokens: number, options: AdmitOptions = {}): Promise<RateDecision> {
    const now = options.now ?? Date.now();
    return this.tx(() => {
      const specs = windowsFor(person, withExtra(this.limitsOf(person.tenant), options.extraLimits), options.defaults);
      const keys = specs.map((s) => `${s.subject.kind}:${s.subject.id}`);
      const counts = keys.map((k) => this.windowCounts(person.tenant, k, now));
      const allowed = specs.every((s, i) => admits(s, counts[i] as WindowCounts, now));
      if (allowed) for (const k of keys) this.bump(person.tenant, k, now, 1, tokens);
      this.db.query("DELETE FROM windows WHERE tenant = ? AND start < ?").run(person.tenant, windowStart(now) - WINDOW_MS);
      return describeWindows(specs, counts, now, tokens, allowed);
    });
  }

  async chargeTokens(person: Person, tokens: number, options: AdmitOptions = {}): Promise<void> {
    const now = options.now ?? Date.now();
    this.tx(() => {
      for (const s of windowsFor(person, withExtra(this.limitsOf(person.tenant), options.extraLimits), options.defaults)) if (s.tpm !== undefined) this.bump(person.tenant, `${s.subject.kind}:${s.subject.id}`, now, 0, tokens);
    });
  }

  // ---- denylist

  async revoke(revocation: Revocation): Promise<void> {
    const r = checkRevocation(revocation);
    this.tx(() => {
      this.db.query("DELETE FROM revocations WHERE until <= ?").run(Date.now());
      this.db.query("INSERT OR REPLACE INTO revocations (tenant, kind, value, until, at, by, reason) VALUES (?, ?, ?, ?, ?, ?, ?)").run(r.tenant, r.kind, r.value, r.until, r.at, r.by ?? null, r.reason ?? null);
    });
  }

  async restore(tenant: string, kind: RevocationKind, value: string): Promise<boolean> {
    return this.tx(() => this.db.query("DELETE FROM revocations WHERE tenant = ? AND kind = ? AND value = ?").run(tenant, kind, revocationValue(kind, value)).changes > 0);
  }

  async isRevoked(tenant: string, identity: TokenIdentity, now = Date.now()): Promise<Revocation | null> {
    const keys = identityKeys(identity);
    if (keys.length === 0) return null;
    const where = keys.map(() => "(kind = ? AND value = ?)").join(" OR ");
    const row = this.db.query<RevocationRow, (string | number)[]>(`SELECT * FROM revocations WHERE tenant = ? AND until > ? AND (${where}) LIMIT 1`).get(tenant, now, ...keys.flat());
    return row ? toRevocation(row) : null;
  }

  async listRevocations(tenant: string, now = Date.now()): Promise<Revocation[]> {
    return this.db.query<RevocationRow, [string, number]>("SELECT * FROM revocations WHERE tenant = ? AND until > ? ORDER BY at").all(tenant, now).map(toRevocation);
  }

  // ---- people seen

  async notePerson(person: SeenPerson): Promise<void> {
    const p = checkSeenPerson(person);
    this.tx(() => {
      this.db
        .query(
          `INSERT INTO people (tenant, sub, username, username_key, email, display_name, first_seen, last_seen, groups_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
           ON CONFLICT (tenant, sub) DO UPDATE SET username = ?3, username_key = ?4, email = coalesce(?5, email), display_name = ?6, first_seen = min(first_seen, ?7), last_seen = max(last_seen, ?8), groups_json = coalesce(?9, groups_json)`,
        )
        .run(p.tenant, p.sub, p.username ?? null, p.username !== undefined ? normaliseUserId(p.username) : null, p.email ?? null, p.displayName, p.firstSeen, p.lastSeen, p.groups ? JSON.stringify(p.groups) : null);
    });
  }

  async findPeople(tenant: string, value: string, kind?: UserKind): Promise<SeenPerson[]> {
    const v = normaliseUserId(value);
    const where = { sub: "lower(sub) = ?2", username: "username_key = ?2", email: "email = ?2" };
    const clause = kind ? where[kind] : Object.values(where).join(" OR ");
    return this.db.query<PersonRow, [string, string]>(`SELECT * FROM people WHERE tenant = ?1 AND (${clause}) ORDER BY last_seen DESC LIMIT 100`).all(tenant, v).map(toPerson);
  }

  // ---- settings

  private budgetsOf(tenant: string): Budget[] {
    return this.db.query<BudgetRow, [string]>("SELECT * FROM budgets WHERE tenant = ?").all(tenant).map(toBudget);
  }

  private limitsOf(tenant: string): RateLimit[] {
    return this.db.query<LimitRow, [string]>("SELECT * FROM limits WHERE tenant = ?").all(tenant).map(toLimit);
  }

  /** In the settings change's transaction: every process's cached copy of the settings is stale from now on. */
  private bumpPolicy(tenant: string): void {
    this.db.query("INSERT INTO policy_versions (tenant, v) VALUES (?1, 1) ON CONFLICT (tenant) DO UPDATE SET v = v + 1").run(tenant);
    // read again next time (also right if this transaction rolls back)
    this.privateVersions?.delete(tenant);
  }

  /**
   * Read on every request. An in-memory database has no other connection, so its versions change
   * only in bumpPolicy and are kept here; a file's are read each time (another process may change them).
   */
  private readonly privateVersions: Map<string, string> | undefined;

  async policyVersion(tenant: string): Promise<string> {
    const known = this.privateVersions?.get(tenant);
    if (known !== undefined) return known;
    const version = String(this.hot.policyVersion.get(tenant)?.v ?? 0);
    this.privateVersions?.set(tenant, version);
    return version;
  }

  async setBudget(budget: Budget): Promise<void> {
    const b = checkBudget(budget);
    this.tx(() => {
      this.db.query("INSERT OR REPLACE INTO budgets (tenant, kind, id, period, unit, lim, soft) VALUES (?, ?, ?, ?, ?, ?, ?)").run(b.tenant, b.subject.kind, b.subject.id, b.period, b.unit, b.limit, b.soft ? 1 : 0);
      this.bumpPolicy(b.tenant);
    });
  }

  async clearBudget(tenant: string, subject: Subject, period: Period, unit?: BudgetUnit): Promise<number> {
    const s = checkSubject(subject);
    return this.tx(() => {
      this.bumpPolicy(tenant);
      return this.db.query(`DELETE FROM budgets WHERE tenant = ? AND kind = ? AND id = ? AND period = ? ${unit ? "AND unit = ?" : ""}`).run(tenant, s.kind, s.id, period, ...(unit ? [unit] : [])).changes;
    });
  }

  async listBudgets(tenant: string): Promise<Budget[]> {
    return this.budgetsOf(tenant);
  }

  async setLimit(limit: RateLimit): Promise<void> {
    const l = checkLimit(limit);
    this.tx(() => {
      this.db.query("INSERT OR REPLACE INTO limits (tenant, kind, id, rpm, tpm) VALUES (?, ?, ?, ?, ?)").run(l.tenant, l.subject.kind, l.subject.id, l.rpm ?? null, l.tpm ?? null);
      this.bumpPolicy(l.tenant);
    });
  }

  async clearLimit(tenant: string, subject: Subject): Promise<boolean> {
    const s = checkSubject(subject);
    return this.tx(() => {
      this.bumpPolicy(tenant);
      return this.db.query("DELETE FROM limits WHERE tenant = ? AND kind = ? AND id = ?").run(tenant, s.kind, s.id).changes > 0;
    });
  }

  async listLimits(tenant: string): Promise<RateLimit[]> {
    return this.limitsOf(tenant);
  }

  // ---- coordination and audit

  async claimOnce(key: string, claimant: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    return this.tx(() => {
      this.db.query("INSERT INTO claims (key, claimant, expires) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET claimant = ?2, expires = ?3 WHERE expires <= ?4").run(key, claimant, now + ttlMs, now);
      // now and then, the expired claims of others go
      if (Math.random() < 0.01) this.db.query("DELETE FROM claims WHERE expires <= ?").run(now);
      return this.db.query<{ claimant: string }, [string]>("SELECT claimant FROM claims WHERE key = ?").get(key)?.claimant === claimant;
    });
  }

  async appendAudit(entry: AuditEntry, options: { retentionMs?: number } = {}): Promise<void> {
    const e = checkAudit(entry);
    const keepFrom = Date.now() - (options.retentionMs ?? DEFAULT_AUDIT_RETENTION_DAYS * DAY_MS);
    this.tx(() => {
      this.db.query("INSERT INTO audit (tenant, time, actor, actor_sub, action, target, old, new, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(e.tenant, e.time, e.actor, e.actorSub ?? null, e.action, e.target, JSON.stringify(e.old ?? null), JSON.stringify(e.new ?? null), e.requestId ?? null);
      this.db.query("DELETE FROM audit WHERE tenant = ? AND time < ?").run(e.tenant, keepFrom);
    });
  }

  async listAudit(q: AuditQuery): Promise<AuditEntry[]> {
    return this.db.query<AuditRow, [string, number, number]>("SELECT * FROM audit WHERE tenant = ? AND time >= ? ORDER BY time, id LIMIT ?").all(q.tenant, q.since ?? 0, q.limit ?? DEFAULT_AUDIT_LIMIT).map(toAudit);
  }

  async ping(): Promise<boolean> {
    try {
      this.db.query("SELECT 1").get();
      return true;
    } catch {
      return false;
    }
  }

  /** Usage writes on their way to the writer thread (tests). */
  get writesInFlight(): number {
    return this.writer?.inFlight ?? 0;
  }

  /** For tests: the writer thread dies as on a crash. */
  crashWriterForTests(): void {
    this.writer?.crashForTests();
  }

  /** Waits for the usage writes in flight to commit (and a backfill transaction under way), then closes. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.upkeepTimers) clearTimeout(t);
    await this.upkeep?.catch(() => {});
    await this.writer?.close();
    this.db.close();
  }
}
