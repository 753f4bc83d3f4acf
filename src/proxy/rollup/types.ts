/**
 * Usage pre-aggregated as it is written, so the console never scans the request ledger: counters
 * per period (a UTC day "2026-11-29", its week "w2026-11-23" and its month "2026-11") at four
 * levels, each summing the same requests:
 *
 *   person         per person (sub)                     the people table, top people, budget burn
 *   person_model   per person and model                 a person's page (daily chart, models)
 *   group_model    per group and model                  the groups table (a request counts in each of its groups; none: group "")
 *   model          per model, the whole tenant          the overview (totals, daily chart), the models table
 *
 * A query over a range reads the months it covers whole, then weeks, then days at its ends
 * (periods.ts), so a year is at most ~25 periods of rows, whatever the traffic. Implementations: SQLite
 * (sqlite.ts, its own tables in the state file) and Redis (redis.ts, a hash per period and level).
 */
import type { Figures, IsoDay } from "../../shared/console-api.ts";
import type { UsageRecord } from "../model/usage.ts";

export type RollupLevel = "person" | "person_model" | "group_model" | "model";
export const ROLLUP_LEVELS = ["person", "person_model", "group_model", "model"] as const satisfies readonly RollupLevel[];

/** A usage record as the gateway writes it (with the person's username and email when the token gave them). */
export type RollupRecord = UsageRecord;

/** One counter cell: `id` is the sub (person levels), the group (group_model) or "" (model); `model` is "" at the person level. */
export interface RollupCell {
  level: RollupLevel;
  /** "YYYY-MM-DD", "wYYYY-MM-DD" (a week, by its Monday) or "YYYY-MM". */
  period: string;
  id: string;
  model: string;
  figures: Figures;
}

export interface RollupRow {
  id: string;
  model: string;
  figures: Figures;
}

export interface SeriesRow extends RollupRow {
  period: string;
}

/** A person as the roll-ups last saw them: the latest name and groups. */
export interface PersonEntry {
  sub: string;
  name: string;
  username?: string;
  email?: string;
  groups: string[];
  /** The latest day they made a request. */
  lastDay: IsoDay;
}

export interface UsageRollups {
  /**
   * Counts each record once at every level and period (idempotent by requestId within
   * {@link DEDUP_DAYS}: a retried or replayed write is not counted again), and notes the person.
   */
  add(records: readonly RollupRecord[]): Promise<void>;
  /** Adds pre-summed cells (imports, the benchmark's seed): no dedup; the caller sums each request once. */
  addCells(tenant: string, cells: readonly RollupCell[], people: readonly PersonEntry[]): Promise<void>;
  /**
   * The cells of `level` summed over `periods` (distinct period keys, days or months), one row per
   * (id, model). `person_model` needs `id` (one person); the others take an optional `id` filter.
   */
  sum(tenant: string, level: RollupLevel, periods: readonly string[], id?: string): Promise<RollupRow[]>;
  /** The cells of `level` per period (a daily chart): `model` for the tenant, `person_model` for one person (`id`). */
  series(tenant: string, level: "model" | "person_model", periods: readonly string[], id?: string): Promise<SeriesRow[]>;
  /** Everyone the roll-ups have counted for this tenant (bounded by the number of people, not requests). */
  people(tenant: string): Promise<PersonEntry[]>;
  /** Drops cells older than the retention ({@link RETENTION_DAYS} of days, {@link RETENTION_MONTHS} of months). */
  prune(now: number): Promise<void>;
  close(): Promise<void>;
}

/** Days kept: a 400-day range plus the month it starts in. */
export const RETENTION_DAYS = 432;
/** Months kept: two years and the current one. */
export const RETENTION_MONTHS = 25;
/** How long a request id is remembered against a second count. */
export const DEDUP_DAYS = 40;

export type RollupErrorCode = "ROLLUP_UNAVAILABLE" | "ROLLUP_CORRUPT" | "ROLLUP_INPUT";

export class RollupError extends Error {
  constructor(
    readonly code: RollupErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How the roll-ups' Redis client (state/bounded-redis.ts) names its failures. */
export const ROLLUP_REDIS_ERRORS = {
  unavailable: (message: string, options?: { cause?: unknown }) => new RollupError("ROLLUP_UNAVAILABLE", message, options),
  refused: (message: string, options: { cause: unknown }) => new RollupError("ROLLUP_CORRUPT", message, options),
  isOwn: (e: unknown) => e instanceof RollupError,
  isRefused: (e: unknown) => e instanceof RollupError && e.code === "ROLLUP_CORRUPT",
};
