import { expect, test } from "bun:test";
import { zeroFigures } from "../../shared/console-api.ts";
import { dailySeries } from "./queries.ts";
import type { SeriesRow } from "./types.ts";

const row = (period: string, model: string, requests: number, cost: number, unpriced: number): SeriesRow => ({ id: "", model, period, figures: { ...zeroFigures(), requests, cost_micro_usd: cost, unpriced_requests: unpriced } });

test("the daily series: every day of the range, models by cost over it, and which models were never priced", () => {
  const series = dailySeries({ from: "2026-12-01", to: "2026-12-03" }, [
    row("2026-12-01", "claude-sonnet-4-5", 2, 3_000, 0),
    row("2026-12-03", "claude-sonnet-4-5", 1, 1_000, 0),
    row("2026-12-02", "my-finetune", 4, 0, 4),
    row("2026-12-02", "claude-haiku-4-5", 3, 500, 1), // partly priced: a cost
    row("2026-11-30", "claude-sonnet-4-5", 9, 9_000, 0), // outside the range
  ]);
  expect(series.days).toEqual(["2026-12-01", "2026-12-02", "2026-12-03"]);
  expect(series.models).toEqual(["claude-sonnet-4-5", "claude-haiku-4-5", "my-finetune"]);
  expect(series.cost_micro_usd).toEqual([[3_000, 0, 1_000], [0, 500, 0], [0, 0, 0]]);
  expect(series.requests).toEqual([2, 7, 1]);
  expect(series.unpriced).toEqual([false, false, true]);
});
