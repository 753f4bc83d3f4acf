/**
 * Roll-ups in Redis: one hash per level and period, a field per row, its counters packed in one
 * value that starts with the field itself ("<field> US requests,input,output,cw5m,cw1h,cacheRead,
 * costMicro,unpriced"), so a period of the people table is one HVALS (an array: Bun's client
 * builds no object of 1,000 properties, twice as fast as HGETALL) and a year ~25 of them,
 * pipelined. Keys share the state store's
 * `<prefix>:{<tenant>}:` (one cluster slot per tenant):
 *
 *   ru:person:<period>            field sub
 *   ru:pm:<sub>:<period>          field model          (a person's page reads only their keys)
 *   ru:gm:<period>                field group US model
 *   ru:model:<period>             field model
 *   ru:people                     field sub -> JSON {name, username, email, groups, lastDay}
 *   ru:seen:<requestId>           dedup marker, DEDUP_DAYS
 *   ru:seen-batch:<id>            a backfill chunk's dedup marker, DEDUP_DAYS
 *
 * Writes are one Lua script per batch (read, add, write each field; Redis numbers are doubles,
 * exact to 2^53: $9 billion in micro-dollars). Day keys expire RETENTION_DAYS after their day,
 * month keys RETENTION_MONTHS after their month.
 */
import { dayMs, type Figures, FIGURE_FIELDS, zeroFigures } from "../../shared/console-api.ts";
import { cellsOf, peopleOf } from "./aggregate.ts";
import { isMonthKey, isWeekKey, nextMonthStart, weekStart } from "./periods.ts";
import { BoundedRedis } from "../state/bounded-redis.ts";
import { DEDUP_DAYS, type PersonEntry, type RollupCell, RollupError, type RollupLevel, ROLLUP_REDIS_ERRORS, type RollupRecord, type RollupRow, RETENTION_DAYS, RETENTION_MONTHS, type SeriesRow, type UsageRollups } from "./types.ts";

const SEP = "\u001f";
const DAY_MS = 86_400_000;

/**
 * KEYS: every key the batch touches, named by index in ARGV.
 * ARGV: seenTtlMs, the number of request-id markers, their key indexes; the number of cells, and
 * per cell (key index, field, packed figures, expire-at ms); the number of people, and per person
 * (key index, sub, entry JSON).
 * All or nothing: when a marker already exists (a request counted before), nothing is written
 * and the positions of those markers are returned, for the caller to send the batch again without
 * them; otherwise the markers are set, the cells added, and {} returned.
 */
export const ADD_SCRIPT = `
-- a value: its field, the unit separator, eight counters (the field may hold a separator itself: the last one counts)
local COUNTERS = '\\031(%-?%d+),(%-?%d+),(%-?%d+),(%-?%d+),(%-?%d+),(%-?%d+),(%-?%d+),(%-?%d+)$'
local function add(cur, inc)
  if not cur then return inc end
  local a1, a2, a3, a4, a5, a6, a7, a8 = string.match(cur, COUNTERS)
  local b1, b2, b3, b4, b5, b6, b7, b8 = string.match(inc, COUNTERS)
  local head = string.sub(inc, 1, #inc - #b1 - #b2 - #b3 - #b4 - #b5 - #b6 - #b7 - #b8 - 8)
  return string.format('%s\\031%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f', head, a1 + b1, a2 + b2, a3 + b3, a4 + b4, a5 + b5, a6 + b6, a7 + b7, a8 + b8)
end
local seen = tonumber(ARGV[2])
local repeated = {}
for i = 1, seen do
  if redis.call('EXISTS', KEYS[tonumber(ARGV[2 + i])]) == 1 then repeated[#repeated + 1] = i end
end
if #repeated > 0 then return repeated end
for i = 1, seen do redis.call('SET', KEYS[tonumber(ARGV[2 + i])], '1', 'PX', ARGV[1]) end
local pos = 3 + seen
local cells = tonumber(ARGV[pos])
pos = pos + 1
local expiring = {}
for i = 1, cells do
  local k, f = KEYS[tonumber(ARGV[pos])], ARGV[pos + 1]
  redis.call('HSET', k, f, add(redis.call('HGET', k, f), ARGV[pos + 2]))
  if not expiring[k] then
    redis.call('PEXPIREAT', k, ARGV[pos + 3])
    expiring[k] = true
  end
  pos = pos + 4
end
local people = tonumber(ARGV[pos])
pos = pos + 1
for p = 1, people do
  local k, sub, entry = KEYS[tonumber(ARGV[pos])], ARGV[pos + 1], cjson.decode(ARGV[pos + 2])
  pos = pos + 3
  local raw = redis.call('HGET', k, sub)
  local out = entry
  if raw then
    local known = cjson.decode(raw)
    local newer, older = entry, known
    if known.lastDay > entry.lastDay then newer, older = known, entry end
    out = newer
    if not out.username then out.username = older.username end
    if not out.email then out.email = older.email end
  end
  redis.call('HSET', k, sub, cjson.encode(out))
end
return {}
`;

/** A cell's value: its field, then its counters. */
const pack = (field: string, f: Figures) => `${field}${SEP}${FIGURE_FIELDS.map((k) => f[k]).join(",")}`;

function figuresFrom(values: readonly (number | string | undefined)[]): Figures {
  const f = zeroFigures();
  for (let i = 0; i < FIGURE_FIELDS.length; i++) f[FIGURE_FIELDS[i] as keyof Figures] = Number(values[i] ?? 0);
  return f;
}

const unpack = (value: string) => figuresFrom(value.split(","));

const enc = (s: string) => encodeURIComponent(s);

/** When a period's cells may go: RETENTION_DAYS after a day or a week's last day, RETENTION_MONTHS after a month. */
export function expiryOf(period: string): number {
  if (isWeekKey(period)) return dayMs(weekStart(period)) + (RETENTION_DAYS + 7) * DAY_MS;
  if (!isMonthKey(period)) return dayMs(period) + RETENTION_DAYS * DAY_MS;
  let month = period;
  for (let i = 0; i < RETENTION_MONTHS; i++) month = nextMonthStart(month).slice(0, 7);
  return dayMs(`${month}-01`);
}

export interface RedisRollupsOptions {
  /** Key prefix, default "ara" (the state store's). */
  prefix?: string;
  commandTimeoutMs?: number;
  /** Cells per script call (bounds the time one call holds the server). Default 2000. */
  cellsPerCall?: number;
}

/** A request touches ~8 cells with a few groups (4 levels, a day and a month): records per call are cellsPerCall / 16. */
const CELLS_PER_RECORD_BOUND = 16;

export class RedisRollups implements UsageRollups {
  private readonly redis: BoundedRedis;
  private readonly prefix: string;
  private readonly cellsPerCall: number;

  constructor(url: string, options: RedisRollupsOptions = {}) {
    this.redis = new BoundedRedis(url, options.commandTimeoutMs ?? 2000, ROLLUP_REDIS_ERRORS);
    this.prefix = options.prefix ?? "ara";
    this.cellsPerCall = options.cellsPerCall ?? 2000;
  }

  private key(tenant: string, ...parts: string[]): string {
    return `${this.prefix}:{${enc(tenant)}}:ru:${parts.join(":")}`;
  }

  /** The hash and field of a cell. */
  private place(tenant: string, level: RollupLevel, period: string, id: string, model: string): [key: string, field: string] {
    switch (level) {
      case "person":
        return [this.key(tenant, "person", period), id];
      case "person_model":
        return [this.key(tenant, "pm", enc(id), period), model];
      case "group_model":
        return [this.key(tenant, "gm", period), `${id}${SEP}${model}`];
      case "model":
        return [this.key(tenant, "model", period), model];
    }
  }

  private peopleKey = (tenant: string) => this.key(tenant, "people");

  /** One script call: request-id markers (all new, or nothing is written), cells, people. Returns the positions of markers that existed. */
  private async write(tenant: string, seen: readonly string[], cells: readonly RollupCell[], people: readonly PersonEntry[]): Promise<number[]> {
    const keys: string[] = [];
    const index = new Map<string, number>();
    const ref = (k: string) => {
      let i = index.get(k);
      if (i === undefined) {
        keys.push(k);
        index.set(k, (i = keys.length));
      }
      return i;
    };
    const args: (string | number)[] = [DEDUP_DAYS * DAY_MS, seen.length, ...seen.map(ref), cells.length];
    for (const c of cells) {
      const [k, field] = this.place(tenant, c.level, c.period, c.id, c.model);
      args.push(ref(k), field, pack(field, c.figures), expiryOf(c.period));
    }
    args.push(people.length);
    const pk = people.length ? ref(this.peopleKey(tenant)) : 0;
    for (const p of people) args.push(pk, p.sub, JSON.stringify(p));
    const repeated = await this.redis.script(ADD_SCRIPT, keys, args);
    return Array.isArray(repeated) ? repeated.map(Number) : [];
  }

  /**
   * A batch's cells summed and written once (a batch of 100 requests touches a few hundred cells,
   * not 1,500), guarded by each request's marker; a request counted before is left out and the
   * rest sent again (rare: a retry or a spool replay).
   */
  async add(records: readonly RollupRecord[]): Promise<void> {
    await this.addCounted(records);
  }

  /** As `add`; returns how many records were counted (not counted before). */
  async addCounted(records: readonly RollupRecord[]): Promise<number> {
    const byTenant = new Map<string, RollupRecord[]>();
    for (const r of records) {
      const list = byTenant.get(r.tenant);
      if (list) list.push(r);
      else byTenant.set(r.tenant, [r]);
    }
    // a batch of many people touches many cells: sent in chunks, so no one call holds the server long
    const perCall = Math.max(1, Math.floor(this.cellsPerCall / CELLS_PER_RECORD_BOUND));
    const counted = await Promise.all(
      [...byTenant].map(async ([tenant, list]) => {
        const unique = [...new Map(list.map((r) => [r.requestId, r])).values()];
        let n = 0;
        for (let i = 0; i < unique.length; i += perCall) n += await this.addOnce(tenant, unique.slice(i, i + perCall));
        return n;
      }),
    );
    return counted.reduce((a, b) => a + b, 0);
  }

  /** One chunk under its requests' markers; a request counted before is left out and the rest sent again. */
  private async addOnce(tenant: string, records: RollupRecord[]): Promise<number> {
    let fresh = records;
    while (fresh.length > 0) {
      const repeated = await this.write(tenant, fresh.map((r) => this.key(tenant, "seen", enc(r.requestId))), cellsOf(fresh), peopleOf(fresh));
      if (repeated.length === 0) return fresh.length;
      const skip = new Set(repeated.map((i) => i - 1));
      fresh = fresh.filter((_, i) => !skip.has(i));
    }
    return 0;
  }

  /**
   * Counts records once under one marker (`batchId`) instead of one per request: a backfill's
   * chunk of old records, whose per-request markers would cost the memory of the whole ledger.
   * The marker is set in the same script as the cells, so a chunk sent twice is counted once.
   */
  async addBatchOnce(tenant: string, batchId: string, records: readonly RollupRecord[]): Promise<boolean> {
    if (records.length === 0) return false;
    const repeated = await this.write(tenant, [this.key(tenant, "seen-batch", enc(batchId))], cellsOf(records), peopleOf(records));
    return repeated.length === 0;
  }

  async addCells(tenant: string, cells: readonly RollupCell[], people: readonly PersonEntry[]): Promise<void> {
    const calls: Promise<number[]>[] = [];
    for (let i = 0; i < cells.length; i += this.cellsPerCall) calls.push(this.write(tenant, [], cells.slice(i, i + this.cellsPerCall), []));
    for (let i = 0; i < people.length; i += this.cellsPerCall) calls.push(this.write(tenant, [], [], people.slice(i, i + this.cellsPerCall)));
    await Promise.all(calls);
  }

  /** Every field of each period's hash of `level`, fetched in parallel (pipelined), handed to `visit` unparsed. */
  private async scan(tenant: string, level: RollupLevel, periods: readonly string[], id: string | undefined, visit: (period: string, id: string, model: string, packed: string) => void): Promise<void> {
    if (level === "person_model" && id === undefined) throw new RollupError("ROLLUP_INPUT", "person_model is read for one person: give the id");
    const hashes = await Promise.all(
      periods.map(async (period) => {
        const [key, field] = this.place(tenant, level, period, id ?? "", "");
        if (level === "person" && id !== undefined) {
          const v = await this.redis.send("HGET", [key, field]);
          return { period, values: v === null ? [] : [String(v)] };
        }
        const values = await this.redis.send("HVALS", [key]);
        return { period, values: (Array.isArray(values) ? values : []) as string[] };
      }),
    );
    for (const { period, values } of hashes) {
      for (const value of values) {
        const at = value.lastIndexOf(SEP);
        const field = value.slice(0, at);
        const packed = value.slice(at + 1);
        if (level === "person") visit(period, field, "", packed);
        else if (level === "person_model") visit(period, id as string, field, packed);
        else if (level === "model") visit(period, "", field, packed);
        else {
          const cut = field.indexOf(SEP);
          const group = field.slice(0, cut);
          if (id === undefined || group === id) visit(period, group, field.slice(cut + 1), packed);
        }
      }
    }
  }

  async sum(tenant: string, level: RollupLevel, periods: readonly string[], id?: string): Promise<RollupRow[]> {
    // plain arrays while summing, keyed by the hash field itself: a year of the people table is ~32,000 packed values
    const sums = new Map<string, { id: string; model: string; acc: number[] }>();
    await this.scan(tenant, level, periods, id, (_, rowId, model, packed) => {
      const key = model === "" ? rowId : `${rowId}${SEP}${model}`;
      let row = sums.get(key);
      if (!row) sums.set(key, (row = { id: rowId, model, acc: [0, 0, 0, 0, 0, 0, 0, 0] }));
      const acc = row.acc;
      const parts = packed.split(",");
      for (let i = 0; i < 8; i++) acc[i] = (acc[i] as number) + Number(parts[i]);
    });
    return [...sums.values()].map((r) => ({ id: r.id, model: r.model, figures: figuresFrom(r.acc) }));
  }

  async series(tenant: string, level: "model" | "person_model", periods: readonly string[], id?: string): Promise<SeriesRow[]> {
    const rows: SeriesRow[] = [];
    await this.scan(tenant, level, periods, id, (period, rowId, model, packed) => rows.push({ period, id: rowId, model, figures: unpack(packed) }));
    return rows;
  }

  async people(tenant: string): Promise<PersonEntry[]> {
    const fields = await this.redis.hgetall(this.peopleKey(tenant));
    return Object.values(fields).map((raw) => {
      const p = JSON.parse(raw) as Partial<PersonEntry> & { groups?: unknown };
      // Lua's cjson writes an empty list as {}
      return { sub: String(p.sub), name: String(p.name ?? p.sub), ...(p.username ? { username: p.username } : {}), ...(p.email ? { email: p.email } : {}), groups: Array.isArray(p.groups) ? (p.groups as string[]) : [], lastDay: String(p.lastDay ?? "") };
    });
  }

  /** Cells expire by themselves (PEXPIREAT at each write); nothing to do. */
  async prune(): Promise<void> {}

  async close(): Promise<void> {
    this.redis.close();
  }
}
