/**
 * A tenant's upstream pool as configured: an ordered `upstreams` list and its `routing`, from the
 * tenants file, from `--upstreams FILE` (`{"upstreams": [...], "routing": {...}}`), or the
 * one-element shorthand of today's `upstream` + key. Pure: nothing is read here but the JSON
 * (key files are opened by key-source.ts when the pool is built), and every error names the
 * member and the field, so a typo never starts a gateway that silently ignores it.
 */
import { readFileSync } from "node:fs";
import { checkTenantUrl, describeValue, EndpointPolicyError } from "../../shared/endpoint-policy.ts";
import { MODEL_ID } from "../../shared/api-routes.ts";
import type { InferenceProfile } from "./bedrock/models.ts";
import { UpstreamError } from "./types.ts";

export type KeyConfig = { kind: "file"; path: string } | { kind: "env"; name: string } | { kind: "inline"; value: string };

export interface AnthropicUpstreamConfig {
  name: string;
  type: "anthropic";
  /** Base URL, no trailing slash; paths (`/v1/messages`) are appended. */
  url: string;
  key: KeyConfig;
  weight: number;
}

export interface BedrockUpstreamConfig {
  name: string;
  type: "bedrock";
  region: string;
  /** Default `https://bedrock-runtime.<region>.amazonaws.com`. */
  endpoint: string;
  /** Over the default table: Anthropic id → Bedrock model id, inference profile id or ARN; null removes a default. */
  models: Record<string, string | null>;
  inferenceProfile: InferenceProfile;
  /** `anthropic-beta` values passed to Bedrock (default: the table's list). */
  betas?: string[];
  /** A named profile of the AWS shared config files, instead of the default chain's choice. */
  awsProfile?: string;
  weight: number;
}

export type UpstreamConfig = AnthropicUpstreamConfig | BedrockUpstreamConfig;

export type RoutingStrategy = "failover" | "weighted";

export interface RoutingConfig {
  /** `failover`: the first healthy upstream takes everything; `weighted`: spread by weight. */
  strategy: RoutingStrategy;
  /** Attempts per request, in all (each upstream at most once). */
  maxAttempts: number;
  /** How long a streamed request waits for the answer's head before trying the next upstream. */
  streamHeadTimeoutMs: number;
  /** The same for a JSON request, whose head comes with the whole answer. */
  headTimeoutMs: number;
  breaker: { failures: number; openMs: number };
}

export interface PoolConfig {
  upstreams: UpstreamConfig[];
  routing: RoutingConfig;
}

export const DEFAULT_ANTHROPIC_URL = "https://api.anthropic.com";
export const DEFAULT_ROUTING: RoutingConfig = {
  strategy: "failover",
  maxAttempts: 3,
  streamHeadTimeoutMs: 120_000,
  headTimeoutMs: 600_000,
  breaker: { failures: 5, openMs: 30_000 },
};
const MAX_ATTEMPTS = 10;

/** A metrics label and a ledger column: short, plain. */
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const BEDROCK_ID = /^[A-Za-z0-9_.:/-]{1,2048}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const AWS_PROFILE = /^[A-Za-z0-9_.-]{1,64}$/;
const BETA = /^[A-Za-z0-9._-]{1,128}$/;

const fail = (message: string): never => {
  throw new UpstreamError("config", message);
};

type Raw = Record<string, unknown>;

function object(value: unknown, where: string): Raw {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${where} must be an object`);
  return value as Raw;
}

function onlyKeys(raw: Raw, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) fail(`${where}: unknown field "${key}" (allowed: ${allowed.join(", ")})`);
  }
}

function text(value: unknown, where: string, pattern?: RegExp, hint?: string): string {
  if (typeof value !== "string" || value === "") fail(`${where} must be a non-empty string`);
  if (pattern && !pattern.test(value as string)) fail(`${where} ${hint ?? "is not valid"}, got ${describeValue(value)}`);
  return value as string;
}

function url(value: unknown, where: string): string {
  try {
    return checkTenantUrl(where, value).href.replace(/\/+$/, "");
  } catch (e) {
    if (e instanceof EndpointPolicyError) fail(e.message);
    throw e;
  }
}

function number(value: unknown, where: string, min: number, max: number, integer: boolean): number {
  const ok = typeof value === "number" && Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
  if (!ok) fail(`${where} must be ${integer ? "a whole number" : "a number"} from ${min} to ${max}, got ${describeValue(value)}`);
  return value as number;
}

/** Exactly one of a file, an environment variable or (the shorthand only) the key itself. */
function keyOf(raw: Raw, fields: { file: string; env: string; inline?: string }, where: string): KeyConfig {
  const names = [fields.file, fields.env, ...(fields.inline ? [fields.inline] : [])];
  const given = names.filter((n) => raw[n] !== undefined);
  if (given.length !== 1) fail(`${where}: set exactly one of ${names.join(", ")}${given.length > 1 ? ` (got ${given.join(" and ")})` : ""}`);
  if (raw[fields.file] !== undefined) return { kind: "file", path: text(raw[fields.file], `${where}.${fields.file}`) };
  if (raw[fields.env] !== undefined) return { kind: "env", name: text(raw[fields.env], `${where}.${fields.env}`, ENV_NAME, "must be an environment variable name") };
  return { kind: "inline", value: text(raw[fields.inline as string], `${where}.${fields.inline}`) };
}

const ANTHROPIC_FIELDS = ["name", "type", "url", "apiKeyFile", "apiKeyEnv", "weight"] as const;
const BEDROCK_FIELDS = ["name", "type", "region", "endpoint", "models", "inferenceProfile", "betas", "awsProfile", "weight"] as const;

function parseModels(value: unknown, where: string): Record<string, string | null> {
  if (value === undefined) return {};
  const raw = object(value, where);
  const out: Record<string, string | null> = {};
  for (const [model, id] of Object.entries(raw)) {
    if (!MODEL_ID.test(model)) fail(`${where}: "${model}" is not an Anthropic model id`);
    out[model] = id === null ? null : text(id, `${where}.${model}`, BEDROCK_ID, "must be a Bedrock model id, inference profile id or ARN (or null to remove the default)");
  }
  return out;
}

function parseMember(raw: unknown, index: number, where: string): UpstreamConfig {
  const at = `${where}[${index}]`;
  const m = object(raw, at);
  const name = text(m.name, `${at}.name`, NAME, "must be 1 to 63 characters: lower-case letters, digits, '.', '_' or '-'");
  const member = `${at} "${name}"`;
  const weight = m.weight === undefined ? 1 : number(m.weight, `${member}.weight`, 0, 1_000_000, false);
  if (m.type === "anthropic") {
    onlyKeys(m, ANTHROPIC_FIELDS, member);
    return { name, type: "anthropic", url: url(m.url ?? DEFAULT_ANTHROPIC_URL, `${member}.url`), key: keyOf(m, { file: "apiKeyFile", env: "apiKeyEnv" }, member), weight };
  }
  if (m.type === "bedrock") {
    onlyKeys(m, BEDROCK_FIELDS, member);
    const region = text(m.region, `${member}.region`, REGION, "must be an AWS Region such as us-east-1");
    const profile = m.inferenceProfile ?? "geo";
    if (profile !== "geo" && profile !== "global" && profile !== "none") fail(`${member}.inferenceProfile must be "geo", "global" or "none", got ${describeValue(profile)}`);
    if (m.betas !== undefined && (!Array.isArray(m.betas) || !m.betas.every((b) => typeof b === "string" && BETA.test(b)))) fail(`${member}.betas must be a list of anthropic-beta values`);
    return {
      name,
      type: "bedrock",
      region,
      endpoint: url(m.endpoint ?? `https://bedrock-runtime.${region}.amazonaws.com`, `${member}.endpoint`),
      models: parseModels(m.models, `${member}.models`),
      inferenceProfile: profile as InferenceProfile,
      ...(m.betas !== undefined ? { betas: m.betas as string[] } : {}),
      ...(m.awsProfile !== undefined ? { awsProfile: text(m.awsProfile, `${member}.awsProfile`, AWS_PROFILE, "must be a profile name of the AWS config files") } : {}),
      weight,
    };
  }
  return fail(`${member}.type must be "anthropic" or "bedrock", got ${describeValue(m.type)}`);
}

const ROUTING_FIELDS = ["strategy", "maxAttempts", "streamHeadTimeoutSeconds", "headTimeoutSeconds", "circuitBreaker"] as const;

export function parseRouting(raw: unknown, where: string): RoutingConfig {
  if (raw === undefined) return DEFAULT_ROUTING;
  const r = object(raw, where);
  onlyKeys(r, ROUTING_FIELDS, where);
  const strategy = r.strategy ?? DEFAULT_ROUTING.strategy;
  if (strategy !== "failover" && strategy !== "weighted") fail(`${where}.strategy must be "failover" or "weighted", got ${describeValue(strategy)}`);
  const seconds = (value: unknown, field: string, fallbackMs: number) => (value === undefined ? fallbackMs : number(value, `${where}.${field}`, 1, 3600, false) * 1000);
  let breaker = DEFAULT_ROUTING.breaker;
  if (r.circuitBreaker !== undefined) {
    const b = object(r.circuitBreaker, `${where}.circuitBreaker`);
    onlyKeys(b, ["failures", "openSeconds"], `${where}.circuitBreaker`);
    breaker = {
      failures: b.failures === undefined ? breaker.failures : number(b.failures, `${where}.circuitBreaker.failures`, 1, 1000, true),
      openMs: b.openSeconds === undefined ? breaker.openMs : number(b.openSeconds, `${where}.circuitBreaker.openSeconds`, 1, 3600, false) * 1000,
    };
  }
  return {
    strategy: strategy as RoutingStrategy,
    maxAttempts: r.maxAttempts === undefined ? DEFAULT_ROUTING.maxAttempts : number(r.maxAttempts, `${where}.maxAttempts`, 1, MAX_ATTEMPTS, true),
    streamHeadTimeoutMs: seconds(r.streamHeadTimeoutSeconds, "streamHeadTimeoutSeconds", DEFAULT_ROUTING.streamHeadTimeoutMs),
    headTimeoutMs: seconds(r.headTimeoutSeconds, "headTimeoutSeconds", DEFAULT_ROUTING.headTimeoutMs),
    breaker,
  };
}

/** `upstreams` (an ordered list) and `routing`, as in the tenants file or the `--upstreams` file. */
export function parsePoolConfig(upstreams: unknown, routing: unknown, where: string): PoolConfig {
  if (!Array.isArray(upstreams) || upstreams.length === 0) fail(`${where}.upstreams must be a non-empty list`);
  const members = (upstreams as unknown[]).map((raw, i) => parseMember(raw, i, `${where}.upstreams`));
  const seen = new Set<string>();
  for (const m of members) {
    if (seen.has(m.name)) fail(`${where}.upstreams: the name "${m.name}" is used twice (names label metrics and the ledger)`);
    seen.add(m.name);
  }
  const parsed = parseRouting(routing, `${where}.routing`);
  if (parsed.strategy === "weighted" && !members.some((m) => m.weight > 0)) fail(`${where}.routing.strategy is "weighted" but every upstream has weight 0`);
  return { upstreams: members, routing: parsed };
}

/** The name of the one upstream of the shorthand (today's `upstream` + key). */
export const SHORTHAND_NAME = "anthropic";
const SHORTHAND_FIELDS = ["upstream", "upstreamApiKeyFile", "upstreamApiKeyEnv", "upstreamApiKey"] as const;

/**
 * A tenant's pool from its configuration object: `upstreams` (+ `routing`), or the shorthand
 * `upstream` (default the Anthropic API) + one of `upstreamApiKeyFile`, `upstreamApiKeyEnv`,
 * `upstreamApiKey`, which is a one-element pool named "anthropic".
 */
export function poolConfigOfTenant(tenant: Raw, where: string): PoolConfig {
  if (tenant.upstreams !== undefined) {
    const shorthand = SHORTHAND_FIELDS.filter((f) => tenant[f] !== undefined);
    if (shorthand.length > 0) fail(`${where}: set either "upstreams" or ${shorthand.map((f) => `"${f}"`).join(" and ")}, not both (the latter is the one-upstream shorthand)`);
    return parsePoolConfig(tenant.upstreams, tenant.routing, where);
  }
  const member: AnthropicUpstreamConfig = {
    name: SHORTHAND_NAME,
    type: "anthropic",
    url: url(tenant.upstream ?? DEFAULT_ANTHROPIC_URL, `${where}.upstream`),
    key: keyOf(tenant, { file: "upstreamApiKeyFile", env: "upstreamApiKeyEnv", inline: "upstreamApiKey" }, where),
    weight: 1,
  };
  return { upstreams: [member], routing: parseRouting(tenant.routing, `${where}.routing`) };
}

/** `--upstreams FILE` (`AGENT_RUNNER_PROXY_UPSTREAMS`): `{"upstreams": [...], "routing": {...}}`. */
export function readUpstreamsFile(path: string, read: (path: string) => string = (p) => readFileSync(p, "utf8")): PoolConfig {
  let json: unknown;
  try {
    json = JSON.parse(read(path));
  } catch (e) {
    throw new UpstreamError("config", `cannot read the upstreams file ${path}: ${(e as Error).message}`, { cause: e });
  }
  const root = object(json, path);
  onlyKeys(root, ["upstreams", "routing"], path);
  return parsePoolConfig(root.upstreams, root.routing, path);
}
