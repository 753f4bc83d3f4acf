/**
 * Period keys of the roll-ups: a day "2026-11-29", a week "w2026-11-23" (named by its Monday,
 * UTC) and a month "2026-11". A range is read as the months it covers whole, then the weeks
 * inside what is left at each end, then days: a year is at most ~25 periods, 30 days ~12.
 */
import { addDays, type DayRange, dayMs, dayOf, type IsoDay } from "../../shared/console-api.ts";
import { RETENTION_DAYS, RETENTION_MONTHS } from "./types.ts";

export const monthOf = (day: IsoDay) => day.slice(0, 7);
export const isMonthKey = (period: string) => period.length === 7;
export const isWeekKey = (period: string) => period.startsWith("w");

/** The Monday of the day's week (UTC). */
export function mondayOf(day: IsoDay): IsoDay {
  const weekday = new Date(dayMs(day)).getUTCDay(); // 0 Sunday
  return addDays(day, -((weekday + 6) % 7));
}
export const weekOf = (day: IsoDay) => `w${mondayOf(day)}`;
/** The first day of a week key. */
export const weekStart = (week: string): IsoDay => week.slice(1);

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

/** Weeks (Monday to Sunday) inside [from, to], then days for the rest. */
function coverWithWeeks(from: IsoDay, to: IsoDay, periods: string[]): void {
  let day = from;
  while (day <= to) {
    if (day === mondayOf(day) && addDays(day, 6) <= to) {
      periods.push(`w${day}`);
      day = addDays(day, 7);
    } else {
      periods.push(day);
      day = addDays(day, 1);
    }
  }
}

/**
 * Periods that sum to exactly the range, each day counted once: the whole months inside it as
 * month keys, and each end (less than a month) as whole weeks and days.
 */
export function coverRange(range: DayRange): string[] {
  let firstMonth = range.from.endsWith("-01") ? monthOf(range.from) : nextMonthStart(monthOf(range.from)).slice(0, 7);
  const months: string[] = [];
  for (let m = firstMonth; lastDayOfMonth(m) <= range.to; m = nextMonthStart(m).slice(0, 7)) months.push(m);
  const periods: string[] = [];
  if (months.length === 0) {
    coverWithWeeks(range.from, range.to, periods);
    return periods;
  }
  firstMonth = months[0] as string;
  coverWithWeeks(range.from, addDays(`${firstMonth}-01`, -1), periods);
  periods.push(...months);
  coverWithWeeks(nextMonthStart(months[months.length - 1] as string), range.to, periods);
  return periods;
}

/** The days a period key stands for. */
export function daysOfPeriod(period: string): IsoDay[] {
  if (isMonthKey(period)) return daysOf({ from: `${period}-01`, to: lastDayOfMonth(period) });
  if (isWeekKey(period)) return daysOf({ from: weekStart(period), to: addDays(weekStart(period), 6) });
  return [period];
}

/** The oldest day (and week starting on it) and month kept at `now`. */
export function retentionFloor(now: number): { day: IsoDay; month: string } {
  const today = dayOf(now);
  let month = monthOf(today);
  for (let i = 0; i < RETENTION_MONTHS - 1; i++) month = previousMonth(month);
  return { day: addDays(today, -(RETENTION_DAYS - 1)), month };
}
