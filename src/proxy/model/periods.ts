/** Budget periods: UTC days ("2026-11-29") and months ("2026-11"); every time is epoch milliseconds. */

export type Period = "day" | "month";

export const dayKey = (t: number) => new Date(t).toISOString().slice(0, 10);
export const monthKey = (t: number) => new Date(t).toISOString().slice(0, 7);

export const periodKeyOf = (period: Period, t: number) => (period === "day" ? dayKey(t) : monthKey(t));

/** The end of a period ("2026-11-29" or "2026-11"), UTC. */
export function periodEnd(periodKey: string): number {
  const [y, m, d] = periodKey.split("-").map(Number) as [number, number, number | undefined];
  return d === undefined ? Date.UTC(y, m, 1) : Date.UTC(y, m - 1, d + 1);
}

/** The days from since to until inclusive (at most ~3 years, to bound a report). */
export function daysBetween(since: string, until: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${since}T00:00:00Z`), end = Date.parse(`${until}T00:00:00Z`); t <= end && days.length < 1200; t += 86_400_000) days.push(dayKey(t));
  return days;
}
