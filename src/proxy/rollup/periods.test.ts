import { describe, expect, test } from "bun:test";
import { addDays } from "../../shared/console-api.ts";
import { coverRange, daysOf, daysOfPeriod, lastDayOfMonth, mondayOf, previousMonth, retentionFloor } from "./periods.ts";

describe("coverRange", () => {
  test("whole months become month keys; each end whole weeks (by their Monday) and days", () => {
    // 2026-01-05 is a Monday
    expect(coverRange({ from: "2026-01-05", to: "2026-04-14" })).toEqual(["w2026-01-05", "w2026-01-12", "w2026-01-19", "2026-01-26", "2026-01-27", "2026-01-28", "2026-01-29", "2026-01-30", "2026-01-31", "2026-02", "2026-03", "2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04", "2026-04-05", "w2026-04-06", "2026-04-13", "2026-04-14"]);
  });
  test("a range inside one month: weeks and days; a whole month is one key", () => {
    expect(coverRange({ from: "2026-02-03", to: "2026-02-05" })).toEqual(["2026-02-03", "2026-02-04", "2026-02-05"]);
    expect(coverRange({ from: "2026-11-05", to: "2026-12-04" })).toEqual(["2026-11-05", "2026-11-06", "2026-11-07", "2026-11-08", "w2026-11-09", "w2026-11-16", "w2026-11-23", "2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]);
    expect(coverRange({ from: "2024-02-01", to: "2024-02-29" })).toEqual(["2024-02"]);
    expect(coverRange({ from: "2026-11-30", to: "2026-12-06" })).toEqual(["w2026-11-30"]);
  });
  test("any range up to 400 days: at most ~30 periods, every day exactly once", () => {
    let worst = 0;
    for (let start = 0; start < 60; start += 3) {
      const from = addDays("2025-12-01", start);
      for (const length of [1, 7, 30, 31, 90, 365, 400]) {
        const to = addDays(from, length - 1);
        const periods = coverRange({ from, to });
        worst = Math.max(worst, periods.length);
        expect(periods.flatMap(daysOfPeriod)).toEqual(daysOf({ from, to }));
      }
    }
    expect(worst).toBeLessThanOrEqual(30);
  });
});

test("weeks, months, retention", () => {
  expect(mondayOf("2026-11-29")).toBe("2026-11-23");
  expect(mondayOf("2026-11-30")).toBe("2026-11-30");
  expect(previousMonth("2026-01")).toBe("2025-12");
  expect(lastDayOfMonth("2026-02")).toBe("2026-02-28");
  expect(lastDayOfMonth("2028-02")).toBe("2028-02-29");
  expect(retentionFloor(Date.parse("2026-11-29T12:00:00Z"))).toEqual({ day: "2025-09-24", month: "2024-11" });
});
