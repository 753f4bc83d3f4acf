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

/** Sums records into cells (a batch that touches one cell many times writes it once). */
export function cellsOf(records: readonly RollupRecord[]): RollupCell[] {
  const cells = new Map<string, RollupCell>();
  for (const r of records) {
    const f = figuresOf(r);
    for (const k of cellKeysOf(r)) {
      const key = cellKey(k);
      const cell = cells.get(key);
      if (cell) addFigures(cell.figures, f);
      else cells.set(key, { ...k, figures: addFigures(zeroFigures(), f) });
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
      lastDay: dayOf(r.time),
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
