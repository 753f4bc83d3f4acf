/**
 * Fills a roll-up store with a year of a large company's traffic, for the console's benchmark
 * and for trying the console by hand:
 *
 *   bun bench/seed-usage.ts --state sqlite:/tmp/usage.db
 *   bun bench/seed-usage.ts --state redis://127.0.0.1:6379/0 [--tenant acme] [--requests 1000000]
 *       [--people 1000] [--groups 40] [--days 365] [--end 2026-11-29] [--seed 1]
 *
 * Every request is generated as a usage record (person, groups, model, tokens, cost priced with
 * the gateway's own table) and summed with the gateway's own roll-up code, so the figures are
 * real sums; only the write is bulk: one day's cells at a time, months at the month's end.
 * People's activity is skewed (a few heavy users, many light ones), weekends are quiet, and the
 * traffic grows over the year. Deterministic for a given --seed.
 */
import { addFigures, addDays, dayMs, dayOf, type Figures, zeroFigures } from "../src/shared/console-api.ts";
import { costOf } from "../src/proxy/accounting/pricing.ts";
import { cellKey, cellKeysOf, figuresOf } from "../src/proxy/rollup/aggregate.ts";
import { monthOf } from "../src/proxy/rollup/periods.ts";
import { RedisRollups } from "../src/proxy/rollup/redis.ts";
import { SqliteRollups } from "../src/proxy/rollup/sqlite.ts";
import type { PersonEntry, RollupCell, RollupRecord, UsageRollups } from "../src/proxy/rollup/types.ts";
import { seededRandom } from "../test/support/seeded-random.ts";

export interface SeedOptions {
  tenant: string;
  requests: number;
  people: number;
  groups: number;
  days: number;
  /** The last day of traffic (UTC). */
  end: string;
  seed: number;
}

export const DEFAULT_SEED: SeedOptions = { tenant: "acme", requests: 1_000_000, people: 1000, groups: 40, days: 365, end: dayOf(Date.now()), seed: 1 };

const MODELS: { model: string; share: number }[] = [
  { model: "claude-sonnet-4-5", share: 0.55 },
  { model: "claude-opus-4-6", share: 0.12 },
  { model: "claude-haiku-4-5", share: 0.25 },
  { model: "claude-sonnet-4", share: 0.07 },
  // an internal model the price table does not know: counted, cost unknown
  { model: "claude-internal-eval", share: 0.01 },
];
const TEAMS = ["platform", "payments", "search", "mobile", "web", "data", "ml", "infra", "security", "growth"];

export interface SeededPerson extends PersonEntry {
  weight: number;
}

export function seedPeople(o: SeedOptions, rnd: () => number): SeededPerson[] {
  const groupNames = Array.from({ length: o.groups }, (_, i) => `${TEAMS[i % TEAMS.length]}-${String(Math.floor(i / TEAMS.length) + 1)}`);
  return Array.from({ length: o.people }, (_, i) => {
    const n = String(i + 1).padStart(4, "0");
    const primary = groupNames[Math.floor(rnd() * groupNames.length)] as string;
    const second = rnd() < 0.3 ? [groupNames[Math.floor(rnd() * groupNames.length)] as string] : [];
    // log-normal activity: a few people make most of the requests, as in any company
    const weight = Math.exp(1.2 * Math.sqrt(-2 * Math.log(rnd() || 1e-9)) * Math.cos(2 * Math.PI * rnd()));
    return { sub: `00000000-0000-4000-a000-${String(i + 1).padStart(12, "0")}`, name: `user${n}@example.com`, username: `user${n}`, email: `user${n}@example.com`, groups: [...new Set([primary, ...second])], lastDay: o.end, weight };
  });
}

/** Picks from cumulative weights by binary search. */
function picker<T>(items: readonly T[], weights: readonly number[], rnd: () => number): () => T {
  const cumulative: number[] = [];
  let sum = 0;
  for (const w of weights) cumulative.push((sum += w));
  return () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return items[lo] as T;
  };
}

/** How many requests each day gets: quiet weekends, growth over the year, exactly `requests` in all. */
export function requestsPerDay(o: SeedOptions): { day: string; n: number }[] {
  const first = addDays(o.end, -(o.days - 1));
  const weights = Array.from({ length: o.days }, (_, i) => {
    const weekday = new Date(dayMs(addDays(first, i))).getUTCDay();
    return (weekday === 0 || weekday === 6 ? 0.25 : 1) * (0.6 + (0.8 * i) / o.days);
  });
  const total = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.floor((w / total) * o.requests));
  let rest = o.requests - counts.reduce((a, b) => a + b, 0);
  for (let i = counts.length - 1; rest > 0; i = (i - 1 + counts.length) % counts.length, rest--) counts[i] = (counts[i] as number) + 1;
  return counts.map((n, i) => ({ day: addDays(first, i), n }));
}

/** One generated request on `day` (a usage record as the gateway writes it). */
function request(o: SeedOptions, day: string, i: number, person: SeededPerson, model: string, rnd: () => number): RollupRecord {
  const input = Math.floor(200 + rnd() * 6000);
  const cacheRead = rnd() < 0.8 ? Math.floor(rnd() * 80_000) : 0;
  const write5m = rnd() < 0.5 ? Math.floor(rnd() * 8000) : 0;
  const write1h = rnd() < 0.1 ? Math.floor(rnd() * 20_000) : 0;
  const output = Math.floor(50 + rnd() * (model.includes("haiku") ? 800 : 3000));
  const usage = { inputTokens: input, outputTokens: output, cacheCreationInputTokens: write5m + write1h, cacheCreation5mInputTokens: write5m, cacheCreation1hInputTokens: write1h, cacheReadInputTokens: cacheRead };
  return {
    requestId: `seed-${o.seed}-${day}-${i}`, time: dayMs(day) + Math.floor(rnd() * 86_400_000), tenant: o.tenant, sub: person.sub, displayName: person.name, username: person.username as string, email: person.email as string,
    groups: person.groups, model, inputTokens: input, outputTokens: output, cacheCreationInputTokens: write5m + write1h, cacheCreation5mInputTokens: write5m, cacheCreation1hInputTokens: write1h,
    cacheReadInputTokens: cacheRead, webSearchRequests: 0, costMicroUsd: costOf(usage, model).microUsd,
  };
}

/** Generates every request and yields them a day at a time. */
export function* generateDays(o: SeedOptions): Generator<{ day: string; records: RollupRecord[] }> {
  const rnd = seededRandom(o.seed);
  const people = seedPeople(o, rnd);
  const pickPerson = picker(people, people.map((p) => p.weight), rnd);
  const pickModel = picker(MODELS.map((m) => m.model), MODELS.map((m) => m.share), rnd);
  for (const { day, n } of requestsPerDay(o)) {
    const records: RollupRecord[] = [];
    for (let i = 0; i < n; i++) records.push(request(o, day, i, pickPerson(), pickModel(), rnd));
    yield { day, records };
  }
}

export interface SeedSummary {
  tenant: string;
  requests: number;
  people: number;
  days: number;
  from: string;
  to: string;
  cells: number;
  totals: Figures;
  seconds: number;
}

/** Sums the generated requests into cells and writes them: a day's cells after each day, a month's at its end. */
export async function seedUsage(rollups: UsageRollups, o: SeedOptions, onDay?: (day: string) => void): Promise<SeedSummary> {
  const started = performance.now();
  const months = new Map<string, RollupCell>();
  const people = new Map<string, PersonEntry>();
  const totals = zeroFigures();
  let cells = 0;
  let requests = 0;
  let first = "";
  let month = "";
  const flushMonth = async () => {
    cells += months.size;
    await rollups.addCells(o.tenant, [...months.values()], []);
    months.clear();
  };
  for (const { day, records } of generateDays(o)) {
    first ||= day;
    if (month && monthOf(day) !== month) await flushMonth();
    month = monthOf(day);
    const dayCells = new Map<string, RollupCell>();
    for (const r of records) {
      const f = figuresOf(r);
      addFigures(totals, f);
      for (const k of cellKeysOf(r)) {
        const into = k.period === day ? dayCells : months;
        const key = cellKey(k);
        const cell = into.get(key);
        if (cell) addFigures(cell.figures, f);
        else into.set(key, { ...k, figures: { ...f } });
      }
      people.set(r.sub, { sub: r.sub, name: r.displayName, username: r.username as string, email: r.email as string, groups: [...r.groups], lastDay: day });
    }
    requests += records.length;
    cells += dayCells.size;
    await rollups.addCells(o.tenant, [...dayCells.values()], []);
    onDay?.(day);
  }
  await flushMonth();
  await rollups.addCells(o.tenant, [], [...people.values()]);
  return { tenant: o.tenant, requests, people: people.size, days: o.days, from: first, to: o.end, cells, totals, seconds: Math.round((performance.now() - started) / 100) / 10 };
}

export function openRollups(state: string): UsageRollups {
  if (state.startsWith("sqlite:")) return new SqliteRollups(state.slice("sqlite:".length));
  if (state.startsWith("redis://") || state.startsWith("rediss://")) return new RedisRollups(state, { commandTimeoutMs: 30_000 });
  throw new Error(`--state is sqlite:<file> or redis://host:port/db, got ${JSON.stringify(state)}`);
}

function parseArgs(argv: string[]): { state: string; options: SeedOptions } {
  const options = { ...DEFAULT_SEED };
  let state = "";
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--state") state = value;
    else if (flag === "--tenant") options.tenant = value;
    else if (flag === "--end") options.end = value;
    else if (flag === "--requests" || flag === "--people" || flag === "--groups" || flag === "--days" || flag === "--seed") {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} is a whole number, 1 or more`);
      options[flag.slice(2) as "requests" | "people" | "groups" | "days" | "seed"] = n;
    } else throw new Error(`unknown flag ${flag} (see the comment at the top of bench/seed-usage.ts)`);
  }
  if (!state) throw new Error("--state sqlite:<file> or --state redis://host:port/db is required");
  return { state, options };
}

if (import.meta.main) {
  try {
    const { state, options } = parseArgs(process.argv.slice(2));
    const rollups = openRollups(state);
    const summary = await seedUsage(rollups, options, (day) => day.endsWith("-01") && process.stderr.write(`seeding ${day}\n`));
    await rollups.close();
    console.log(JSON.stringify(summary));
  } catch (e) {
    console.error(`seed-usage: ${(e as Error).message}`);
    process.exit(2);
  }
}
