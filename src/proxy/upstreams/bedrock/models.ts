/**
 * Anthropic model ids → Bedrock model ids, for one Bedrock upstream: the shipped, dated default
 * table (models.default.json) with the upstream's own `models` over it, each model called through
 * the cross-Region inference profile its `inferenceProfile` asks for (`geo`: the profile of the
 * Region's geography, for data residency; `global`; `none`: the foundation model in the Region).
 * A client's id is matched as the price table matches it (a date snapshot, `-latest`, `[1m]` and
 * the aliases of accounting/pricing.ts), so `claude-sonnet-4-5-20250929` finds `claude-sonnet-4-5`.
 */
import { DEFAULT_PRICES, normaliseModelId } from "../../accounting/pricing.ts";
import defaultTable from "./models.default.json" with { type: "json" };

export interface BedrockModelEntry {
  /** The foundation model id (`anthropic.claude-…-v1:0`). */
  id: string;
  /** The cross-Region inference profiles (`global`, `us`, `eu`, `apac`, `jp`, `au`…) that serve it. */
  profiles?: string[];
  displayName?: string;
  /** YYYY-MM-DD, shown as `created_at` by `/v1/models`. */
  released?: string;
}

export interface BedrockModelTable {
  effective: string;
  source: string;
  /** `anthropic-beta` values Bedrock's InvokeModel accepts; others are dropped (Bedrock answers 400 "invalid beta flag"). */
  betas: string[];
  models: Record<string, BedrockModelEntry>;
}

export const DEFAULT_BEDROCK_MODELS: BedrockModelTable = defaultTable as BedrockModelTable;

export type InferenceProfile = "geo" | "global" | "none";

/** The profile prefixes of a Region's geography, most specific first. */
export function geographiesOf(region: string): string[] {
  if (region.startsWith("us-gov-")) return ["us-gov"];
  if (region.startsWith("us-")) return ["us"];
  if (region.startsWith("ca-")) return ["ca", "us"];
  if (region.startsWith("eu-")) return ["eu"];
  if (region === "ap-northeast-1" || region === "ap-northeast-3") return ["jp", "apac"];
  if (region === "ap-southeast-2" || region === "ap-southeast-4") return ["au", "apac"];
  if (region.startsWith("ap-")) return ["apac"];
  return [];
}

/** The id to call for a table entry, given the Region and the profile asked for. */
export function invocationId(entry: BedrockModelEntry, region: string, preference: InferenceProfile): string {
  const profiles = entry.profiles ?? [];
  const geo = geographiesOf(region).find((g) => profiles.includes(g));
  if (preference === "geo") return geo ? `${geo}.${entry.id}` : entry.id;
  if (preference === "global") return profiles.includes("global") ? `global.${entry.id}` : geo ? `${geo}.${entry.id}` : entry.id;
  return entry.id;
}

/** A cross-Region profile prefix: `us.`, `eu.`, `apac.`, `global.`, `us-gov.`… */
const PROFILE_PREFIX = /^(?:[a-z]{2,6}(?:-[a-z]{2,4})?)\.(?=anthropic\.)/;

/**
 * The foundation model id under an inference profile (CountTokens takes only those); undefined
 * for an ARN (an application inference profile), whose model this gateway cannot know.
 */
export function foundationModelId(bedrockId: string): string | undefined {
  if (bedrockId.startsWith("arn:")) return undefined;
  return bedrockId.replace(PROFILE_PREFIX, "");
}

export interface ListedModel {
  id: string;
  displayName: string;
  createdAt: string;
}

/** The models one Bedrock upstream serves: Anthropic id → the Bedrock id it calls. */
export class BedrockModelMap {
  private readonly ids = new Map<string, string>();
  private readonly listed: ListedModel[] = [];

  constructor(
    table: BedrockModelTable,
    region: string,
    preference: InferenceProfile,
    /** The upstream's `models`: an id to call (model id, profile id or ARN), or null to remove a default. */
    overrides: Readonly<Record<string, string | null>> = {},
  ) {
    for (const [model, entry] of Object.entries(table.models)) {
      if (Object.hasOwn(overrides, model)) continue;
      this.add(model, invocationId(entry, region, preference), entry);
    }
    for (const [model, id] of Object.entries(overrides)) {
      if (id !== null) this.add(model, id, table.models[model]);
    }
  }

  private add(model: string, id: string, entry: BedrockModelEntry | undefined): void {
    this.ids.set(model, id);
    this.listed.push({
      id: model,
      displayName: entry?.displayName ?? model,
      createdAt: `${entry?.released ?? "1970-01-01"}T00:00:00Z`,
    });
  }

  /** The Bedrock id for a client's model id; undefined when this upstream does not serve it. */
  resolve(model: string): string | undefined {
    const exact = this.ids.get(model);
    if (exact !== undefined) return exact;
    const base = normaliseModelId(model);
    const direct = this.ids.get(base);
    if (direct !== undefined) return direct;
    const aliases = DEFAULT_PRICES.aliases ?? {};
    const alias = Object.hasOwn(aliases, base) ? aliases[base] : undefined;
    return alias === undefined ? undefined : this.ids.get(alias);
  }

  list(): readonly ListedModel[] {
    return this.listed;
  }
}
