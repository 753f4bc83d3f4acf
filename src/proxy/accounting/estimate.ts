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

/** The model and max_tokens of a JSON body already in memory; nothing if it is not JSON. */
export function requestFacts(body: Uint8Array | ArrayBuffer | undefined, declaredBytes: number): RequestFacts {
  const bytes = body ? body.byteLength : declaredBytes;
  if (!body) return { bodyBytes: bytes };
  try {
    const json = JSON.parse(new TextDecoder().decode(body)) as { model?: unknown; max_tokens?: unknown; stream?: unknown };
    return {
      bodyBytes: bytes,
      ...(typeof json.model === "string" ? { model: json.model } : {}),
      ...(typeof json.max_tokens === "number" && Number.isSafeInteger(json.max_tokens) && json.max_tokens > 0 ? { maxTokens: json.max_tokens } : {}),
      ...(json.stream === true ? { stream: true } : {}),
    };
  } catch {
    return { bodyBytes: bytes };
  }
}

function dearest(table: PriceTable): Rates {
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
