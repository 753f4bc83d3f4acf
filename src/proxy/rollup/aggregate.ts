/** From usage records to roll-up cells: what one request adds at every level and period. */
import { addFigures, dayOf, type Figures } from "../../shared/console-api.ts";
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

/** Sums records into cells (a batch that touches one cell many times writes it once): the cells of {@link cellKeysOf}, without building them per record. */
export function cellsOf(records: readonly RollupRecord[]): RollupCell[] {
  const cells = new Map<string, RollupCell>();
  const add = (level: RollupLevel, period: string, id: string, model: string, f: Figures) => {
    const key = `${level}\u0000${period}\u0000${id}\u0000${model}`;
    const cell = cells.get(key);
    if (cell) addFigures(cell.figures, f);
    else cells.set(key, { level, period, id, model, figures: { ...f } });
  };
  for (const r of records) {
    const f = figuresOf(r);
    const groups = groupsOf(r);
    for (const period of periodsOf(r.time)) {
      add("person", period, r.sub, "", f);
      add("person_model", period, r.sub, r.model, f);
      add("model", period, "", r.model, f);
      for (const g of groups) add("group_model", period, g, r.model, f);
    }
  }
  return [...cells.values()];
}

/** The people of a batch as of their latest record. */
export function peopleOf(records: readonly RollupRecord[]): PersonEntry[] {
  const people = new Map<string, PersonEntry & { time: number }>();
  for (const r of records) {
    const known = people.get(r.sub);
    if (known && known.time > r.time) continue;
    people.set(r.sub, {
      sub: r.sub,
      name: r.displayName,
      ...(r.username ?? known?.username ? { username: (r.username ?? known?.username) as string } : {}),
      ...(r.email ?? known?.email ? { email: ((r.email ?? known?.email) as string).toLowerCase() } : {}),
      groups: [...new Set(r.groups)],
      lastDay: periodsOf(r.time)[0],
      time: r.time,
    });
  }
  return [...people.values()].map(({ time: _, ...p }) => p);
}

/** A newer sighting over a known entry: its name and groups; identifiers kept when it has none. */
export function mergePerson(known: PersonEntry | undefined, seen: PersonEntry): PersonEntry {
  if (!known) return seen;
  if (known.lastDay > seen.lastDay) return { ...known, ...(known.username ? {} : seen.username ? { username: seen.username } : {}), ...(known.email ? {} : seen.email ? { email: seen.email } : {}) };
  return { ...seen, ...(seen.username ? {} : known.username ? { username: known.username } : {}), ...(seen.email ? {} : known.email ? { email: known.email } : {}) };
}
