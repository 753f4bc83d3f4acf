/**
 * Cost of a request from a per-model price table (USD per million tokens). The default table is
 * dated; a tenant's configuration may override any model or add its own. Sums are kept in
 * integer micro-dollars so thousands of small requests add up exactly.
 */
import { cacheWrites, type Usage } from "./usage.ts";
import defaultTable from "./pricing.default.json" with { type: "json" };

export interface Rates {
  /** USD per million uncached input tokens. */
  input: number;
  output: number;
  /** Default 1.25 x input. */
  cacheWrite5m?: number;
  /** Default 2 x input. */
  cacheWrite1h?: number;
  /** Default 0.1 x input. */
  cacheRead?: number;
}

export interface ModelPrice extends Rates {
  /** Rates for every token of a request whose prompt (input + cache writes + cache reads) exceeds the threshold. */
  longPrompt?: Rates & { thresholdTokens: number };
}

export interface PriceTable {
  /** The date the prices were taken from the provider's page (YYYY-MM-DD). */
  effective: string;
  models: Record<string, ModelPrice>;
  /** Other ids for a model, e.g. "claude-opus-4-0" -> "claude-opus-4". */
  aliases?: Record<string, string>;
  /** USD per request of a server tool, by its `server_tool_use` counter name. */
  serverTools?: Record<string, number>;
}

export type PriceTableOverride = Partial<PriceTable>;

export interface Cost {
  /** null when the model is not in the table: tokens are still counted. */
  usd: number | null;
  microUsd: number | null;
  unknownModel: boolean;
  /** The table entry used. */
  priceKey?: string;
}

export class PricingConfigError extends Error {
  readonly code = "PRICING_CONFIG";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const DEFAULT_PRICES: PriceTable = defaultTable as PriceTable;

/** Over the default: models and aliases merged by key, an override's entry replaces the default's. */
export function mergePriceTables(base: PriceTable, override: PriceTableOverride | undefined): PriceTable {
  if (!override) return base;
  return {
    effective: override.effective ?? base.effective,
    models: { ...base.models, ...override.models },
    aliases: { ...base.aliases, ...override.aliases },
    serverTools: { ...base.serverTools, ...override.serverTools },
  };
}

/**
 * Provider decorations off a model id: Bedrock's `us.anthropic.` prefix and `-v1:0` suffix,
 * Vertex's `@20250929`, Claude Code's `[1m]`, `-latest` and the date snapshot.
 */
export function normaliseModelId(model: string): string {
  return model
    .trim()
    .toLowerCase()
    .replace(/\[[^\]]*\]$/, "")
    .replace(/^(?:[a-z]{2,4}\.)?anthropic\./, "")
    .replace(/-v\d+(?::\d+)?$/, "")
    .replace(/@(\d{8})$/, "-$1")
    .replace(/-latest$/, "")
    .replace(/-\d{8}$/, "");
}

/** Per table, the answers so far: a request resolves its model three times (estimate, cost, metrics) with six regexes each. */
const resolved = new WeakMap<PriceTable, Map<string, string | undefined>>();

/** The table key for a model id: exact id, then the id without decorations, then an alias. */
export function resolveModel(model: string, table: PriceTable): string | undefined {
  let known = resolved.get(table);
  if (!known) resolved.set(table, (known = new Map()));
  if (known.has(model)) return known.get(model);
  const key = resolveUncached(model, table);
  if (known.size >= 1000) known.clear(); // model ids come from clients: bounded
  known.set(model, key);
  return key;
}

function resolveUncached(model: string, table: PriceTable): string | undefined {
  if (Object.hasOwn(table.models, model)) return model;
  const base = normaliseModelId(model);
  if (Object.hasOwn(table.models, base)) return base;
  const alias = table.aliases && Object.hasOwn(table.aliases, base) ? table.aliases[base] : undefined;
  return alias !== undefined && Object.hasOwn(table.models, alias) ? alias : undefined;
}

/** USD per million tokens -> pico-dollars per token, an integer for every price quoted to 6 decimals. */
const pico = (usdPerMTok: number) => Math.round(usdPerMTok * 1e6);

export function costOf(usage: Usage, model: string | undefined, table: PriceTable = DEFAULT_PRICES): Cost {
  const key = model === undefined ? undefined : resolveModel(model, table);
  const price = key === undefined ? undefined : table.models[key];
  if (!price) return { usd: null, microUsd: null, unknownModel: true };
  const writes = cacheWrites(usage);
  const input = usage.inputTokens ?? 0;
  const read = usage.cacheReadInputTokens ?? 0;
  const prompt = input + writes.fiveMinute + writes.oneHour + read;
  const rates: Rates = price.longPrompt && prompt > price.longPrompt.thresholdTokens ? price.longPrompt : price;
  const picoTotal =
    input * pico(rates.input) +
    (usage.outputTokens ?? 0) * pico(rates.output) +
    writes.fiveMinute * pico(rates.cacheWrite5m ?? rates.input * 1.25) +
    writes.oneHour * pico(rates.cacheWrite1h ?? rates.input * 2) +
    read * pico(rates.cacheRead ?? rates.input * 0.1);
  let microUsd = Math.round(picoTotal / 1e6);
  for (const [tool, n] of Object.entries(usage.serverToolUse ?? {})) {
    const perRequest = table.serverTools?.[tool];
    if (perRequest !== undefined) microUsd += Math.round(n * perRequest * 1e6);
  }
  return { usd: microUsd / 1e6, microUsd, unknownModel: false, priceKey: key };
}

/** Every token the request consumed or produced, the unit of token budgets and limits. */
export function totalTokens(usage: Usage): number {
  return (usage.inputTokens ?? 0) + (usage.outputTokens ?? 0) + (usage.cacheCreationInputTokens ?? 0) + (usage.cacheReadInputTokens ?? 0);
}

const isRate = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

function checkRates(r: Record<string, unknown>, where: string): void {
  for (const field of ["input", "output"]) if (!isRate(r[field])) throw new PricingConfigError(`${where}.${field} must be a non-negative number (USD per million tokens)`);
  for (const field of ["cacheWrite5m", "cacheWrite1h", "cacheRead"]) {
    if (r[field] !== undefined && !isRate(r[field])) throw new PricingConfigError(`${where}.${field} must be a non-negative number (USD per million tokens) or absent`);
  }
}

/** Checks a table (or a tenant's partial override) read from configuration. */
export function parsePriceTable(raw: unknown, where: string, partial: true): PriceTableOverride;
export function parsePriceTable(raw: unknown, where: string, partial?: false): PriceTable;
export function parsePriceTable(raw: unknown, where: string, partial = false): PriceTableOverride {
  if (typeof raw !== "object" || raw === null) throw new PricingConfigError(`${where} must be an object`);
  const t = raw as Record<string, unknown>;
  if (t.effective !== undefined || !partial) {
    if (typeof t.effective !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(t.effective)) throw new PricingConfigError(`${where}.effective must be a date, YYYY-MM-DD`);
  }
  if (t.models !== undefined || !partial) {
    if (typeof t.models !== "object" || t.models === null) throw new PricingConfigError(`${where}.models must be an object keyed by model id`);
    for (const [id, price] of Object.entries(t.models)) {
      if (typeof price !== "object" || price === null) throw new PricingConfigError(`${where}.models.${id} must be an object`);
      checkRates(price as Record<string, unknown>, `${where}.models.${id}`);
      const long = (price as Record<string, unknown>).longPrompt;
      if (long !== undefined) {
        if (typeof long !== "object" || long === null) throw new PricingConfigError(`${where}.models.${id}.longPrompt must be an object`);
        checkRates(long as Record<string, unknown>, `${where}.models.${id}.longPrompt`);
        if (!isRate((long as Record<string, unknown>).thresholdTokens)) throw new PricingConfigError(`${where}.models.${id}.longPrompt.thresholdTokens must be a number`);
      }
    }
  }
  for (const field of ["aliases", "serverTools"] as const) {
    const v = t[field];
    if (v === undefined) continue;
    const ok = typeof v === "object" && v !== null && Object.values(v).every((x) => (field === "aliases" ? typeof x === "string" : isRate(x)));
    if (!ok) throw new PricingConfigError(`${where}.${field} must be an object of ${field === "aliases" ? "model ids" : "USD per request"}`);
  }
  return t as PriceTableOverride;
}
