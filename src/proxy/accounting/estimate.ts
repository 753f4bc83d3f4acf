/**
 * What a Messages request may cost at most, before it is forwarded: the prompt from the body's
 * size (about 4 bytes a token, priced as uncached input) and the answer from `max_tokens`
 * (priced as output). Reserved against the person's budgets and settled to the real usage when
 * the response ends. A model missing from the price table is estimated at the table's dearest
 * rates, so an unpriced model cannot slip under a budget.
 */
import type { Estimate } from "../model/budgets.ts";
import { type PriceTable, type Rates, resolveModel } from "./pricing.ts";

export const BYTES_PER_TOKEN = 4;
/** When the body gives no `max_tokens` (the API requires it; the upstream will refuse). */
export const DEFAULT_MAX_TOKENS = 4096;

export interface RequestFacts {
  model?: string;
  maxTokens?: number;
  /** `"stream": true`: the answer is SSE (its head comes early). */
  stream?: boolean;
  bodyBytes: number;
}

/** Whole bodies only (no `stream` option): one decoder serves every request. */
const decoder = new TextDecoder();

/** The model and max_tokens of a JSON body already in memory; nothing if it is not JSON. */
export function requestFacts(body: Uint8Array | ArrayBuffer | undefined, declaredBytes: number): RequestFacts {
  const bytes = body ? body.byteLength : declaredBytes;
  const facts: RequestFacts = { bodyBytes: bytes };
  if (!body) return facts;
  try {
    const json = JSON.parse(decoder.decode(body)) as { model?: unknown; max_tokens?: unknown; stream?: unknown };
    if (typeof json.model === "string") facts.model = json.model;
    if (typeof json.max_tokens === "number" && Number.isSafeInteger(json.max_tokens) && json.max_tokens > 0) facts.maxTokens = json.max_tokens;
    if (json.stream === true) facts.stream = true;
  } catch {
    // not JSON: the size alone
  }
  return facts;
}

/** A table's dearest rates, computed once per table (an unpriced model is estimated at them on every request). */
const dearestOf = new WeakMap<PriceTable, Rates>();

function dearest(table: PriceTable): Rates {
  let rates = dearestOf.get(table);
  if (!rates) dearestOf.set(table, (rates = dearestRates(table)));
  return rates;
}

function dearestRates(table: PriceTable): Rates {
  let input = 0;
  let output = 0;
  for (const p of Object.values(table.models)) {
    input = Math.max(input, p.input, p.longPrompt?.input ?? 0);
    output = Math.max(output, p.output, p.longPrompt?.output ?? 0);
  }
  return { input, output };
}

export function estimateOf(facts: RequestFacts, table: PriceTable): Estimate {
  const inputTokens = Math.ceil(facts.bodyBytes / BYTES_PER_TOKEN);
  const outputTokens = facts.maxTokens ?? DEFAULT_MAX_TOKENS;
  const key = facts.model === undefined ? undefined : resolveModel(facts.model, table);
  const price = key === undefined ? dearest(table) : (table.models[key] as Rates);
  const long = key !== undefined ? table.models[key]?.longPrompt : undefined;
  const rates: Rates = long && inputTokens > long.thresholdTokens ? long : price;
  // USD per million tokens is micro-dollars per token
  return { microUsd: Math.ceil(inputTokens * rates.input + outputTokens * rates.output), tokens: inputTokens + outputTokens };
}
