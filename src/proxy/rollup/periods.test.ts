import { describe, expect, test } from "bun:test";
import { coverRange, daysOf, lastDayOfMonth, previousMonth, retentionFloor } from "./periods.ts";

describe("coverRange", () => {
  test("whole months become month keys, the ends stay days", () => {
    expect(coverRange({ from: "2026-01-30", to: "2026-04-02" })).toEqual(["2026-01-30", "2026-01-31", "2026-02", "2026-03", "2026-04-01", "2026-04-02"]);
  });
  test("a range inside one month is its days; a whole month is one key", () => {
    expect(coverRange({ from: "2026-02-03", to: "2026-02-05" })).toEqual(["2026-02-03", "2026-02-04", "2026-02-05"]);
    expect(coverRange({ from: "2024-02-01", to: "2024-02-29" })).toEqual(["2024-02"]);
    expect(coverRange({ from: "2024-02-01", to: "2024-02-28" })).toHaveLength(28);
  });
  test("a year is at most 12 months and ~60 days, and covers every day exactly once", () => {
    for (const from of ["2026-01-01", "2026-01-31", "2026-03-15", "2025-12-31"]) {
      const to = new Date(Date.parse(`${from}T00:00:00Z`) + 399 * 86_400_000).toISOString().slice(0, 10);
      const periods = coverRange({ from, to });
      expect(periods.length).toBeLessThanOrEqual(13 + 62);
      const covered = periods.flatMap((p) => (p.length === 7 ? daysOf({ from: `${p}-01`, to: lastDayOfMonth(p) }) : [p]));
      expect(covered).toEqual(daysOf({ from, to }));
    }
  });
});

test("month arithmetic", () => {
  expect(previousMonth("2026-01")).toBe("2025-12");
  expect(lastDayOfMonth("2026-02")).toBe("2026-02-28");
  expect(lastDayOfMonth("2028-02")).toBe("2028-02-29");
  expect(retentionFloor(Date.parse("2026-11-29T12:00:00Z"))).toEqual({ day: "2025-09-24", month: "2024-11" });
});
