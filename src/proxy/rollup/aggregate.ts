/** From usage records to roll-up cells: what one request adds at every level and period. */
import { addFigures, dayOf, type Figures, zeroFigures } from "../../shared/console-api.ts";
import { monthOf, weekOf } from "./periods.ts";
import type { PersonEntry, RollupCell, RollupLevel, RollupRecord } from "./types.ts";

/** One request's figures. Cache writes whose TTL the API did not state count as 5-minute writes (its default). */
export function figuresOf(r: RollupRecord): Figures {
  const unstated = Math.max(0, r.cacheCreationInputTokens - r.cacheCreation5mInputTokens - r.cacheCreation1hInputTokens);
  return {
    requests: 1,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cache_write_5m_tokens: r.cacheCreation5mInputTokens + unstated,
    cache_write_1h_tokens: r.cacheCreation1hInputTokens,
    cache_read_tokens: r.cacheReadInputTokens,
    cost_micro_usd: r.costMicroUsd ?? 0,
    unpriced_requests: r.costMicroUsd === null ? 1 : 0,
  };
}

/** A request without groups counts under group "" (as the ledger's report by group does). */
export const groupsOf = (r: Pick<RollupRecord, "groups">): string[] => (r.groups.length ? [...new Set(r.groups)] : [""]);

/** The cells one record adds to: four levels, its day, week and month. */
export function cellKeysOf(r: RollupRecord): { level: RollupLevel; period: string; id: string; model: string }[] {
  const day = dayOf(r.time);
  const keys: { level: RollupLevel; period: string; id: string; model: string }[] = [];
  for (const period of [day, weekOf(day), monthOf(day)]) {
    keys.push({ level: "person", period, id: r.sub, model: "" }, { level: "person_model", period, id: r.sub, model: r.model }, { level: "model", period, id: "", model: r.model });
    for (const g of groupsOf(r)) keys.push({ level: "group_model", period, id: g, model: r.model });
  }
  return keys;
}

export const cellKey = (c: Pick<RollupCell, "level" | "period" | "id" | "model">) => `${c.level}\u0000${c.period}\u0000${c.id}\u0000${c.model}`;

const DAY_MS = 86_400_000;
/** A record's day, week and month keys by its day's start: formatting dates is most of a record's cost otherwise. */
const periodsByDay = new Map<number, readonly [string, string, string]>();
function periodsOf(time: number): readonly [string, string, string] {
  const start = time - (((time % DAY_MS) + DAY_MS) % DAY_MS);
  let periods = periodsByDay.get(start);
  if (!periods) {
    if (periodsByDay.size >= 2000) periodsByDay.clear();
    const day = dayOf(start);
    periodsByDay.set(start, (periods = [day, weekOf(day), monthOf(day)]));
  }
  return periods;
}

/** Adds one request's figures to `into` ({@link figuresOf} without the object: this runs once per request). */
function addRecord(into: Figures, r: RollupRecord): void {
  const stated = r.cacheCreation5mInputTokens + r.cacheCreation1hInputTokens;
  into.requests += 1;
  into.input_tokens += r.inputTokens;
  into.output_tokens += r.outputTokens;
  into.cache_write_5m_tokens += r.cacheCreation5mInputTokens + Math.max(0, r.cacheCreationInputTokens - stated);
  into.cache_write_1h_tokens += r.cacheCreation1hInputTokens;
  into.cache_read_tokens += r.cacheReadInputTokens;
  into.cost_micro_usd += r.costMicroUsd ?? 0;
  if (r.costMicroUsd === null) into.unpriced_requests += 1;
}

/** The records of a batch that add to the same cells: one person, model, day and set of groups. */
interface Bucket {
  sub: string;
  model: string;
  groups: string[];
  periods: readonly [string, string, string];
  figures: Figures;
}

/**
 * Sums records into cells (a batch that touches one cell many times writes it once): the cells of
 * {@link cellKeysOf}. Records are first summed by what decides their cells, one key per record,
 * so a batch of mostly a few people's requests costs a string and a few additions a request.
 */
export function cellsOf(records: readonly RollupRecord[]): RollupCell[] {
  const buckets = new Map<string, Bucket>();
  for (const r of records) {
    const periods = periodsOf(r.time);
    // sub and group names carry no NUL (the IdP's); the model, which a client names, comes last
    const key = `${periods[0]}\u0000${r.sub}\u0000${r.groups.length}\u0000${r.groups.join("\u0000")}\u0000${r.model}`;
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = { sub: r.sub, model: r.model, groups: groupsOf(r), periods, figures: zeroFigures() }));
    addRecord(bucket.figures, r);
  }
  const cells = new Map<string, RollupCell>();
  const add = (level: RollupLevel, period: string, id: string, model: string, f: Figures) => {
    const key = `${level}\u0000${period}\u0000${id}\u0000${model}`;
    const cell = cells.get(key);
    if (cell) addFigures(cell.figures, f);
    else cells.set(key, { level, period, id, model, figures: { ...f } });
  };
  for (const { sub, model, groups, periods, figures } of buckets.values()) {
    for (const period of periods) {
      add("person", period, sub, "", figures);
      add("person_model", period, sub, model, figures);
      add("model", period, "", model, figures);
      for (const g of groups) add("group_model", period, g, model, figures);
    }
  }
  return [...cells.values()];
}

/**
 * The people of a batch as of their latest record (name, groups, day); a username or e-mail
 * from the latest record that has one.
 */
export function peopleOf(records: readonly RollupRecord[]): PersonEntry[] {
  const latest = new Map<string, RollupRecord>();
  const usernames = new Map<string, RollupRecord>();
  const emails = new Map<string, RollupRecord>();
  for (const r of records) {
    const known = latest.get(r.sub);
    if (!known || r.time >= known.time) latest.set(r.sub, r);
    if (r.username) {
      const had = usernames.get(r.sub);
      if (!had || r.time >= had.time) usernames.set(r.sub, r);
    }
    if (r.email) {
      const had = emails.get(r.sub);
      if (!had || r.time >= had.time) emails.set(r.sub, r);
    }
  }
  return [...latest.values()].map((r) => {
    const username = usernames.get(r.sub)?.username;
    const email = emails.get(r.sub)?.email;
    return { sub: r.sub, name: r.displayName, ...(username ? { username } : {}), ...(email ? { email: email.toLowerCase() } : {}), groups: [...new Set(r.groups)], lastDay: periodsOf(r.time)[0] };
  });
}

/** A newer sighting over a known entry: its name and groups; identifiers kept when it has none. */
export function mergePerson(known: PersonEntry | undefined, seen: PersonEntry): PersonEntry {
  if (!known) return seen;
  if (known.lastDay > seen.lastDay) return { ...known, ...(known.username ? {} : seen.username ? { username: seen.username } : {}), ...(known.email ? {} : seen.email ? { email: seen.email } : {}) };
  return { ...seen, ...(seen.username ? {} : known.username ? { username: known.username } : {}), ...(seen.email ? {} : known.email ? { email: known.email } : {}) };
}
