import { describe, expect, test } from "bun:test";
import { DEFAULT_MAX_TOKENS, estimateOf, requestFacts } from "./estimate.ts";
import { DEFAULT_PRICES, type PriceTable } from "./pricing.ts";

const table: PriceTable = {
  effective: "2026-01-01",
  models: {
    small: { input: 1, output: 5 },
    big: { input: 3, output: 15, longPrompt: { thresholdTokens: 1000, input: 6, output: 22.5 } },
  },
  aliases: { "small-latest": "small" },
};
const bytes = (s: string) => new TextEncoder().encode(s);

describe("requestFacts", () => {
  test("model and max_tokens of a JSON body, and its size", () => {
    const body = bytes(JSON.stringify({ model: "small", max_tokens: 300, messages: [] }));
    expect(requestFacts(body, 0)).toEqual({ model: "small", maxTokens: 300, bodyBytes: body.byteLength });
  });
  test("a streamed request says so (its head comes early: the upstream pool's shorter timeout)", () => {
    expect(requestFacts(bytes(JSON.stringify({ model: "m", stream: true })), 0).stream).toBe(true);
    expect(requestFacts(bytes(JSON.stringify({ model: "m", stream: "yes" })), 0).stream).toBeUndefined();
  });

  test("a max_tokens that is not a positive integer, or a model that is not a string, is ignored", () => {
    for (const max of [0, -1, 1.5, "300", null, 2 ** 60]) {
      const facts = requestFacts(bytes(JSON.stringify({ model: 7, max_tokens: max })), 0);
      expect(facts.maxTokens).toBeUndefined();
      expect(facts.model).toBeUndefined();
    }
  });

  test("not JSON: only the size; a streamed body (not in memory): the declared size", () => {
    expect(requestFacts(bytes("not json {"), 0)).toEqual({ bodyBytes: 10 });
    expect(requestFacts(undefined, 123_456)).toEqual({ bodyBytes: 123_456 });
  });
});

describe("estimateOf", () => {
  test("prompt at 4 bytes a token (rounded up) as input, max_tokens as output; USD per million tokens is micro-USD per token", () => {
    expect(estimateOf({ model: "small", maxTokens: 100, bodyBytes: 401 }, table)).toEqual({ tokens: 101 + 100, microUsd: 101 * 1 + 100 * 5 });
  });

  test("an alias resolves to its model's price", () => {
    expect(estimateOf({ model: "small-latest", maxTokens: 10, bodyBytes: 40 }, table)).toEqual(estimateOf({ model: "small", maxTokens: 10, bodyBytes: 40 }, table));
  });

  test("without max_tokens the default is assumed (the upstream will refuse the request anyway)", () => {
    expect(estimateOf({ model: "small", bodyBytes: 0 }, table)).toEqual({ tokens: DEFAULT_MAX_TOKENS, microUsd: DEFAULT_MAX_TOKENS * 5 });
  });

  test("a prompt over the long-prompt threshold is priced at the long rates", () => {
    expect(estimateOf({ model: "big", maxTokens: 10, bodyBytes: 4000 }, table).microUsd).toBe(1000 * 3 + 10 * 15); // at the threshold: normal
    expect(estimateOf({ model: "big", maxTokens: 10, bodyBytes: 4004 }, table).microUsd).toBe(Math.ceil(1001 * 6 + 10 * 22.5));
  });

  test("an unknown or missing model is estimated at the dearest rates in the table (long-prompt ones included), never under", () => {
    const unknown = estimateOf({ model: "claude-next", maxTokens: 10, bodyBytes: 40 }, table);
    expect(unknown).toEqual({ tokens: 20, microUsd: 10 * 6 + 10 * 22.5 });
    expect(estimateOf({ maxTokens: 10, bodyBytes: 40 }, table)).toEqual(unknown);
    for (const model of Object.keys(DEFAULT_PRICES.models)) {
      expect(estimateOf({ model: "not-a-model", maxTokens: 1000, bodyBytes: 4000 }, DEFAULT_PRICES).microUsd).toBeGreaterThanOrEqual(estimateOf({ model, maxTokens: 1000, bodyBytes: 4000 }, DEFAULT_PRICES).microUsd);
    }
  });
});
