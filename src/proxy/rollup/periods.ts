/** Period keys of the roll-ups: a range as the months it covers whole plus the days at its ends. */
import { addDays, type DayRange, dayMs, dayOf, type IsoDay } from "../../shared/console-api.ts";
import { RETENTION_DAYS, RETENTION_MONTHS } from "./types.ts";

export const monthOf = (day: IsoDay) => day.slice(0, 7);
export const isMonthKey = (period: string) => period.length === 7;

/** The first day of the month after `month` ("2026-11" -> "2026-12-01"). */
export function nextMonthStart(month: string): IsoDay {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return dayOf(Date.UTC(y, m, 1));
}

export const lastDayOfMonth = (month: string): IsoDay => addDays(nextMonthStart(month), -1);

export function previousMonth(month: string): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return dayOf(Date.UTC(y, m - 2, 1)).slice(0, 7);
}

/** Every day of the range, in order. */
export function daysOf(range: DayRange): IsoDay[] {
  const days: IsoDay[] = [];
  for (let t = dayMs(range.from), end = dayMs(range.to); t <= end; t += 86_400_000) days.push(dayOf(t));
  return days;
}

/**
 * The fewest periods that sum to exactly the range: each month inside it whole as its month key,
 * the rest as days. A year is at most 12 months and ~60 days, however the range falls.
 */
export function coverRange(range: DayRange): string[] {
  const periods: string[] = [];
  let day = range.from;
  while (day <= range.to) {
    const month = monthOf(day);
    const last = lastDayOfMonth(month);
    if (day.endsWith("-01") && last <= range.to) {
      periods.push(month);
      day = nextMonthStart(month);
    } else {
      periods.push(day);
      day = addDays(day, 1);
    }
  }
  return periods;
}

/** The oldest day and month kept at `now`. */
export function retentionFloor(now: number): { day: IsoDay; month: string } {
  const today = dayOf(now);
  let month = monthOf(today);
  for (let i = 0; i < RETENTION_MONTHS - 1; i++) month = previousMonth(month);
  return { day: addDays(today, -(RETENTION_DAYS - 1)), month };
}
