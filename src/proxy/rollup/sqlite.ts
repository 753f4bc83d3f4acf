/**
 * Roll-ups in SQLite (bun:sqlite), in tables of their own beside the ledger (the same file or
 * another). Every write is one BEGIN IMMEDIATE transaction of upserts that add (`ON CONFLICT DO
 * UPDATE SET n = n + ?`), the cells of a batch summed first, as the ledger's counters are written.
 * `applyRollups` is the same write for a caller already inside its own transaction: the ledger,
 * so a request is counted in the roll-ups exactly when its record is inserted.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { dayOf, type Figures } from "../../shared/console-api.ts";
import { cellsOf, peopleOf } from "./aggregate.ts";
import { retentionFloor } from "./periods.ts";
import { DEDUP_DAYS, type PersonEntry, type RollupCell, RollupError, type RollupLevel, type RollupRecord, type RollupRow, type SeriesRow, type UsageRollups } from "./types.ts";

const COUNTERS = "n INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cw5 INTEGER NOT NULL, cw1h INTEGER NOT NULL, cr INTEGER NOT NULL, cost INTEGER NOT NULL, unpriced INTEGER NOT NULL";
/** person_model is read one person at a time: the person leads its key. */
const TABLES: Record<RollupLevel, { table: string; key: string }> = {
  person: { table: "rollup_person", key: "tenant, period, id, model" },
  person_model: { table: "rollup_person_model", key: "tenant, id, period, model" },
  group_model: { table: "rollup_group_model", key: "tenant, period, id, model" },
  model: { table: "rollup_model", key: "tenant, period, id, model" },
};

export const ROLLUP_SCHEMA = [
  ...Object.values(TABLES).map((t) => `CREATE TABLE IF NOT EXISTS ${t.table} (tenant TEXT NOT NULL, period TEXT NOT NULL, id TEXT NOT NULL, model TEXT NOT NULL, ${COUNTERS}, PRIMARY KEY (${t.key})) WITHOUT ROWID;`),
  "CREATE TABLE IF NOT EXISTS rollup_people (tenant TEXT NOT NULL, sub TEXT NOT NULL, name TEXT NOT NULL, username TEXT, email TEXT, groups TEXT NOT NULL, last_day TEXT NOT NULL, PRIMARY KEY (tenant, sub)) WITHOUT ROWID;",
  "CREATE TABLE IF NOT EXISTS rollup_seen (tenant TEXT NOT NULL, request_id TEXT NOT NULL, day TEXT NOT NULL, PRIMARY KEY (tenant, request_id)) WITHOUT ROWID;",
  "CREATE INDEX IF NOT EXISTS rollup_seen_day ON rollup_seen (day);",
].join("\n");

/** Creates the roll-up tables if missing (inside the caller's transaction, if any). */
export function ensureRollupSchema(db: Database): void {
  db.exec(ROLLUP_SCHEMA);
}

const upsertSql = (level: RollupLevel) =>
  `INSERT INTO ${TABLES[level].table} (tenant, period, id, model, n, input, output, cw5, cw1h, cr, cost, unpriced) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
   ON CONFLICT DO UPDATE SET n = n + ?5, input = input + ?6, output = output + ?7, cw5 = cw5 + ?8, cw1h = cw1h + ?9, cr = cr + ?10, cost = cost + ?11, unpriced = unpriced + ?12`;

const PERSON_SQL = `INSERT INTO rollup_people (tenant, sub, name, username, email, groups, last_day) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
  ON CONFLICT (tenant, sub) DO UPDATE SET
    name = CASE WHEN ?7 >= last_day THEN ?3 ELSE name END,
    groups = CASE WHEN ?7 >= last_day THEN ?6 ELSE groups END,
    username = CASE WHEN ?7 >= last_day THEN coalesce(?4, username) ELSE coalesce(username, ?4) END,
    email = CASE WHEN ?7 >= last_day THEN coalesce(?5, email) ELSE coalesce(email, ?5) END,
    last_day = max(last_day, ?7)`;

/** Writes cells and people of one tenant; the caller holds the transaction. */
function writeCells(db: Database, tenant: string, cells: readonly RollupCell[], people: readonly PersonEntry[]): void {
  const queries = new Map<RollupLevel, ReturnType<Database["query"]>>();
  for (const c of cells) {
    let q = queries.get(c.level);
    if (!q) queries.set(c.level, (q = db.query(upsertSql(c.level))));
    const f = c.figures;
    q.run(tenant, c.period, c.id, c.model, f.requests, f.input_tokens, f.output_tokens, f.cache_write_5m_tokens, f.cache_write_1h_tokens, f.cache_read_tokens, f.cost_micro_usd, f.unpriced_requests);
  }
  const person = db.query(PERSON_SQL);
  for (const p of people) person.run(tenant, p.sub, p.name, p.username ?? null, p.email ?? null, JSON.stringify(p.groups), p.lastDay);
}

function byTenant(records: readonly RollupRecord[]): Map<string, RollupRecord[]> {
  const out = new Map<string, RollupRecord[]>();
  for (const r of records) {
    const list = out.get(r.tenant);
    if (list) list.push(r);
    else out.set(r.tenant, [r]);
  }
  return out;
}

/**
 * Counts records in the roll-ups, inside the caller's transaction and without dedup: for the
 * ledger's write, which calls it with the records it has just inserted (INSERT OR IGNORE
 * changed a row), so a retried write is counted once, atomically with the ledger.
 */
export function applyRollups(db: Database, records: readonly RollupRecord[]): void {
  for (const [tenant, list] of byTenant(records)) writeCells(db, tenant, cellsOf(list), peopleOf(list));
}

/** Drops cells older than the retention and request-id markers older than DEDUP_DAYS, inside the caller's transaction. */
export function pruneRollups(db: Database, now: number): void {
  const floor = retentionFloor(now);
  const seenFloor = dayOf(now - DEDUP_DAYS * 86_400_000);
  for (const { table } of Object.values(TABLES)) {
    db.query(`DELETE FROM ${table} WHERE length(period) = 10 AND period < ?`).run(floor.day);
    db.query(`DELETE FROM ${table} WHERE length(period) = 11 AND period < ?`).run(`w${floor.day}`);
    db.query(`DELETE FROM ${table} WHERE length(period) = 7 AND period < ?`).run(floor.month);
  }
  db.query("DELETE FROM rollup_seen WHERE day < ?").run(seenFloor);
}

interface CounterRow {
  id: string;
  model: string;
  period?: string;
  n: number;
  input: number;
  output: number;
  cw5: number;
  cw1h: number;
  cr: number;
  cost: number;
  unpriced: number;
}

const figuresOfRow = (r: CounterRow): Figures => ({
  requests: r.n, input_tokens: r.input, output_tokens: r.output, cache_write_5m_tokens: r.cw5, cache_write_1h_tokens: r.cw1h, cache_read_tokens: r.cr, cost_micro_usd: r.cost, unpriced_requests: r.unpriced,
});

const SUMS = "sum(n) AS n, sum(input) AS input, sum(output) AS output, sum(cw5) AS cw5, sum(cw1h) AS cw1h, sum(cr) AS cr, sum(cost) AS cost, sum(unpriced) AS unpriced";

export class SqliteRollups implements UsageRollups {
  private readonly db: Database;
  /** A connection handed in belongs to its owner (the state store): close leaves it open. */
  private readonly owned: boolean;

  /**
   * `path` is a file (created with its directory; the gateway's state file is fine) or ":memory:";
   * or an open connection (the state store's own, so an in-memory store's roll-ups are readable),
   * which must hold the roll-up schema already (ensureRollupSchema).
   */
  constructor(path: string | Database) {
    if (typeof path !== "string") {
      this.db = path;
      this.owned = false;
      return;
    }
    this.owned = true;
    try {
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path, { create: true, strict: true });
      this.db.exec("PRAGMA busy_timeout = 10000");
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = NORMAL");
      this.db.transaction(() => ensureRollupSchema(this.db)).immediate();
    } catch (e) {
      throw new RollupError("ROLLUP_UNAVAILABLE", `cannot open the roll-up database ${path}: ${(e as Error).message}; check the path and its permissions`, { cause: e });
    }
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction; SQLite failures become typed errors. */
  private tx<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      throw this.failure(e);
    }
  }

  private failure(e: unknown): RollupError {
    if (e instanceof RollupError) return e;
    if ((e as { code?: string }).code?.startsWith("SQLITE_BUSY")) return new RollupError("ROLLUP_UNAVAILABLE", `roll-up database busy: ${(e as Error).message}`, { cause: e });
    return new RollupError("ROLLUP_CORRUPT", `roll-up database: ${(e as Error).message}`, { cause: e });
  }

  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.failure(e);
    }
  }

  async add(records: readonly RollupRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.tx(() => {
      const seen = this.db.query("INSERT OR IGNORE INTO rollup_seen (tenant, request_id, day) VALUES (?, ?, ?)");
      const fresh = records.filter((r) => seen.run(r.tenant, r.requestId, dayOf(r.time)).changes === 1);
      applyRollups(this.db, fresh);
    });
  }

  async addCells(tenant: string, cells: readonly RollupCell[], people: readonly PersonEntry[]): Promise<void> {
    this.tx(() => writeCells(this.db, tenant, cells, people));
  }

  private periodsFilter(level: RollupLevel, id: string | undefined): string {
    if (level === "person_model" && id === undefined) throw new RollupError("ROLLUP_INPUT", "person_model is read for one person: give the id");
    return `tenant = ?1 AND period IN (SELECT value FROM json_each(?2))${id !== undefined ? " AND id = ?3" : ""}`;
  }

  async sum(tenant: string, level: RollupLevel, periods: readonly string[], id?: string): Promise<RollupRow[]> {
    const where = this.periodsFilter(level, id);
    return this.read(() =>
      this.db
        // the person level has one model (""): grouping by id alone is the cheaper temp b-tree
        .query<CounterRow, string[]>(`SELECT id, model, ${SUMS} FROM ${TABLES[level].table} WHERE ${where} GROUP BY id${level === "person" ? "" : ", model"}`)
        .all(tenant, JSON.stringify(periods), ...(id !== undefined ? [id] : []))
        .map((r) => ({ id: r.id, model: r.model, figures: figuresOfRow(r) })),
    );
  }

  async series(tenant: string, level: "model" | "person_model", periods: readonly string[], id?: string): Promise<SeriesRow[]> {
    const where = this.periodsFilter(level, id);
    return this.read(() =>
      this.db
        .query<CounterRow & { period: string }, string[]>(`SELECT period, id, model, n, input, output, cw5, cw1h, cr, cost, unpriced FROM ${TABLES[level].table} WHERE ${where}`)
        .all(tenant, JSON.stringify(periods), ...(id !== undefined ? [id] : []))
        .map((r) => ({ period: r.period, id: r.id, model: r.model, figures: figuresOfRow(r) })),
    );
  }

  async people(tenant: string): Promise<PersonEntry[]> {
    return this.read(() =>
      this.db
        .query<{ sub: string; name: string; username: string | null; email: string | null; groups: string; last_day: string }, [string]>("SELECT sub, name, username, email, groups, last_day FROM rollup_people WHERE tenant = ?")
        .all(tenant)
        .map((r) => ({ sub: r.sub, name: r.name, ...(r.username !== null ? { username: r.username } : {}), ...(r.email !== null ? { email: r.email } : {}), groups: JSON.parse(r.groups) as string[], lastDay: r.last_day })),
    );
  }

  async prune(now: number): Promise<void> {
    this.tx(() => pruneRollups(this.db, now));
  }

  async close(): Promise<void> {
    if (this.owned) this.db.close();
  }
}
