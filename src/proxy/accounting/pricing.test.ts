import { describe, expect, test } from "bun:test";
import { costOf, DEFAULT_PRICES, mergePriceTables, normaliseModelId, parsePriceTable, PricingConfigError, resolveModel, totalTokens } from "./pricing.ts";

describe("model ids", () => {
  test.each([
    ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"],
    ["claude-sonnet-4-5", "claude-sonnet-4-5"],
    ["claude-opus-4-20250514", "claude-opus-4"],
    ["claude-opus-4-0", "claude-opus-4"],
    ["claude-opus-4-1-20250805", "claude-opus-4-1"],
    ["claude-3-7-sonnet-latest", "claude-3-7-sonnet"],
    ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"],
    ["claude-sonnet-4-5@20250929", "claude-sonnet-4-5"],
    ["claude-sonnet-4-6[1m]", "claude-sonnet-4-6"],
    ["claude-haiku-4-5-20251001", "claude-haiku-4-5"],
    ["Claude-Opus-4-8", "claude-opus-4-8"],
  ])("%s -> %s", (id, key) => {
    expect(resolveModel(id, DEFAULT_PRICES)).toBe(key);
  });

  test("an unknown id, or a newer minor version, is not priced as an older one", () => {
    expect(resolveModel("claude-opus-4-9", DEFAULT_PRICES)).toBeUndefined();
    expect(resolveModel("claude-stub", DEFAULT_PRICES)).toBeUndefined();
    expect(resolveModel("__proto__", DEFAULT_PRICES)).toBeUndefined();
    expect(normaliseModelId("claude-opus-4-9-20270101")).toBe("claude-opus-4-9");
  });
});

describe("costOf", () => {
  test("every token kind at its own rate (sonnet 4.5: $3 in, $15 out, 3.75/6 writes, 0.30 reads)", () => {
    const cost = costOf(
      { inputTokens: 1_000_000, outputTokens: 100_000, cacheCreationInputTokens: 300_000, cacheCreation5mInputTokens: 100_000, cacheCreation1hInputTokens: 200_000, cacheReadInputTokens: 10_000_000 },
      "claude-sonnet-4-5-20250929",
    );
    // 3 + 1.5 + 0.375 + 1.2 + 3 = 9.075
    expect(cost).toEqual({ usd: 9.075, microUsd: 9_075_000, unknownModel: false, priceKey: "claude-sonnet-4-5" });
  });

  test("unsplit cache writes are 5-minute writes; missing write/read prices derive from input (1.25x, 2x, 0.1x)", () => {
    const table = mergePriceTables(DEFAULT_PRICES, { models: { "house-model": { input: 2, output: 8 } } });
    const usage = { cacheCreationInputTokens: 1_000_000, cacheReadInputTokens: 1_000_000 };
    expect(costOf(usage, "house-model", table).microUsd).toBe(2_500_000 + 200_000);
    expect(costOf({ cacheCreationInputTokens: 1_000_000, cacheCreation1hInputTokens: 1_000_000 }, "house-model", table).microUsd).toBe(4_000_000);
  });

  test("Claude Code-like traffic: cache reads dominate, and an input/output-only count would be far off", () => {
    const usage = { inputTokens: 8, outputTokens: 400, cacheCreationInputTokens: 2_000, cacheReadInputTokens: 60_000 };
    const full = costOf(usage, "claude-opus-4-6").microUsd!;
    const naive = costOf({ inputTokens: 8, outputTokens: 400 }, "claude-opus-4-6").microUsd!;
    expect(full).toBe(8 * 5 + 400 * 25 + 2_000 * 6.25 + 60_000 * 0.5);
    expect(full / naive).toBeGreaterThan(4);
  });

  test("long-prompt tier applies to every token of a request over the threshold", () => {
    const small = costOf({ inputTokens: 100_000, outputTokens: 1_000 }, "claude-haiku-5-5");
    const large = costOf({ inputTokens: 100_001, outputTokens: 1_000 }, "claude-haiku-5-5");
    expect(small.microUsd).toBe(Math.round(100_000 * 0.1 + 1_000 * 0.5));
    expect(large.microUsd).toBe(Math.round(100_001 * 0.5 + 1_000 * 2.5));
  });

  test("server tools are priced per request (web search $10 per 1,000)", () => {
    expect(costOf({ serverToolUse: { web_search_requests: 3, web_fetch_requests: 5 } }, "claude-sonnet-4-5").microUsd).toBe(30_000);
  });

  test("unknown or missing model: cost null and flagged, never a throw", () => {
    expect(costOf({ inputTokens: 10, outputTokens: 5 }, "claude-stub")).toEqual({ usd: null, microUsd: null, unknownModel: true });
    expect(costOf({}, undefined).unknownModel).toBe(true);
  });

  test("sums of micro-dollars are exact where float dollars drift", () => {
    const one = costOf({ inputTokens: 33, outputTokens: 7 }, "claude-haiku-4-5");
    let micro = 0;
    let float = 0;
    for (let i = 0; i < 10_000; i++) {
      micro += one.microUsd!;
      float += one.usd!;
    }
    expect(micro).toBe(one.microUsd! * 10_000);
    expect(micro / 1e6).toBe(0.68);
    expect(float).not.toBe(0.68);
  });
});

describe("tenant overrides and validation", () => {
  test("a partial override replaces one model and keeps the rest of the default", () => {
    const override = parsePriceTable({ effective: "2026-12-01", models: { "claude-sonnet-4-5": { input: 2.4, output: 12 } } }, "tenants.acme.prices", true);
    const table = mergePriceTables(DEFAULT_PRICES, override);
    expect(table.effective).toBe("2026-12-01");
    expect(costOf({ inputTokens: 1_000_000 }, "claude-sonnet-4-5-20250929", table).usd).toBe(2.4);
    expect(costOf({ inputTokens: 1_000_000 }, "claude-opus-4-6", table).usd).toBe(5);
    expect(DEFAULT_PRICES.models["claude-sonnet-4-5"]!.input).toBe(3);
  });

  test("the default table is dated and valid", () => {
    expect(() => parsePriceTable(DEFAULT_PRICES, "default")).not.toThrow();
    expect(DEFAULT_PRICES.effective).toMatch(/^2026-\d{2}-\d{2}$/);
  });

  test("bad tables are refused with a typed error that names the field", () => {
    const bad = (raw: unknown) => {
      try {
        parsePriceTable(raw, "prices");
      } catch (e) {
        expect(e).toBeInstanceOf(PricingConfigError);
        return (e as PricingConfigError).message;
      }
      throw new Error("accepted");
    };
    expect(bad({ effective: "soon", models: {} })).toContain("prices.effective");
    expect(bad({ effective: "2026-01-01", models: { m: { input: "3", output: 1 } } })).toContain("prices.models.m.input");
    expect(bad({ effective: "2026-01-01", models: { m: { input: 1, output: 1, cacheRead: -1 } } })).toContain("cacheRead");
  });
});

test("totalTokens counts every kind", () => {
  expect(totalTokens({ inputTokens: 1, outputTokens: 2, cacheCreationInputTokens: 3, cacheReadInputTokens: 4 })).toBe(10);
});
