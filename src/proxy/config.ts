/**
 * Proxy configuration: the tenants one process serves, chosen by the Host header's first label
 * (`<slug>.proxy.<domain>`), from a JSON file; or a single tenant from flags/environment.
 * The upstreams (a pool, upstreams/config.ts) are checked here; their keys are read when the pool
 * is built (upstreams/build.ts), from the files or variables named; a key never comes from the
 * client and is never logged.
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { checkRedirectUri, EndpointPolicyError } from "../shared/endpoint-policy.ts";
import type { CliClientConfig } from "../shared/tenant-discovery.ts";
import { parsePriceTable, type PriceTableOverride } from "./accounting/pricing.ts";
import type { RateDefaults } from "./model/rate-windows.ts";
import { type PoolConfig, poolConfigOfTenant } from "./upstreams/config.ts";
import { UpstreamError } from "./upstreams/types.ts";
import { type PolicySpec, policySpecOf } from "./policy/source.ts";
import { type AlertsConfig, AlertsConfigError, parseAlertsConfig } from "./alerts/config.ts";
import type { ConsoleClientConfig } from "./console/oidc.ts";
import { CONSOLE_CALLBACK } from "../shared/console-api.ts";

export interface TenantConfig {
  slug: string;
  issuer: string;
  /** JWKS URI; default `<issuer>/.well-known/jwks.json` as Cognito publishes it. */
  jwksUri: string;
  clientIds: string[];
  requiredGroups: string[];
  /** The upstream pool: `upstreams` + `routing`, or the one-upstream shorthand `upstream` + key. */
  pool: PoolConfig;
  /** The client configuration published in the tenant discovery document. */
  cli: CliClientConfig;
  /** Public base URL (https://<slug>.proxy.<domain>); default: derived from the request. */
  publicUrl?: string;
  /** Members of these `cognito:groups` may use the admin API (default: the proxy's `--admin-group`). */
  adminGroups?: string[];
  /** Over the dated default price table: models, aliases, server tools. */
  prices?: PriceTableOverride;
  /** Rate limits where no admin-set limit applies. */
  rateLimits?: RateDefaults;
  /** The tenant policy (docs/policy.md): a file (watched) or an inline object. */
  policy?: PolicySpec;
  /** Offboarding from the directory: each active session re-checked at the issuer's userInfo this often (default 60; 0: never). */
  revalidateSeconds?: number;
  /** Budget alerts to a webhook (issue 18 §4); the secret read from its file. */
  alerts?: AlertsConfig;
  /** The admin console (docs/console.md): its own app client, served under /_gateway/console/ only when set. */
  console?: ConsoleClientConfig;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
const isLoopback = (host: string) => LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * A console URL (the redirect or the sign-out URL): https on the tenant's host (publicUrl's, else
 * `<slug>.…`), or http on loopback (the local tenant); no credentials, query (but the sign-out
 * URL's) or fragment. `path`: the one path it must have.
 */
function consoleUrl(value: unknown, where: string, tenant: ConsoleTenant, path?: string): string {
  const text = str(value, where);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${where} must be an absolute URL, got ${JSON.stringify(text)}`);
  }
  const host = url.hostname.toLowerCase();
  const tenantHost = tenant.publicUrl ? new URL(tenant.publicUrl).hostname.toLowerCase() : undefined;
  // a single tenant is served on any host: without publicUrl, any https host is its own
  const onTenant = url.protocol === "https:" && (tenantHost ? host === tenantHost : tenant.anyHost === true || host.split(".")[0] === tenant.slug);
  const local = url.protocol === "http:" && isLoopback(host);
  if (!onTenant && !local) throw new ConfigError(`${where} must be https on the tenant's host (${tenantHost ?? `${tenant.slug}.<domain>`}) or http on loopback, got ${JSON.stringify(text)}`);
  if (url.username || url.password || url.hash) throw new ConfigError(`${where} must not carry a user name, password or fragment`);
  if (path !== undefined && (url.pathname !== path || url.search)) throw new ConfigError(`${where} must end in ${path} (the gateway's console callback), got ${JSON.stringify(text)}`);
  return url.href;
}

/** `console: {clientId, redirectUri, logoutUri?}`: the console's app client, never one of the API's `clientIds`. */
interface ConsoleTenant {
  slug: string;
  publicUrl?: string;
  clientIds: readonly string[];
  /** The single tenant of the flags: every Host is its. */
  anyHost?: boolean;
}

export function parseConsoleConfig(raw: unknown, where: string, tenant: ConsoleTenant): ConsoleClientConfig {
  if (typeof raw !== "object" || raw === null) throw new ConfigError(`${where} must be an object with clientId and redirectUri`);
  const c = raw as Record<string, unknown>;
  const clientId = printable(c.clientId, `${where}.clientId`);
  // a console sign-in is not an API credential: its tokens must not pass /anthropic/
  if (tenant.clientIds.includes(clientId)) throw new ConfigError(`${where}.clientId must be the console's own app client, not one of clientIds (${clientId}): its tokens would be accepted as API credentials`);
  const redirectUri = consoleUrl(c.redirectUri, `${where}.redirectUri`, tenant, CONSOLE_CALLBACK);
  const logoutUri = c.logoutUri !== undefined ? consoleUrl(c.logoutUri, `${where}.logoutUri`, tenant) : undefined;
  if (logoutUri !== undefined && new URL(logoutUri).origin !== new URL(redirectUri).origin) throw new ConfigError(`${where}.logoutUri must be on the redirect URI's origin (${new URL(redirectUri).origin})`);
  return { clientId, redirectUri, ...(logoutUri !== undefined ? { logoutUri } : {}) };
}

/** `--revalidate-seconds` / `revalidateSeconds`: whole seconds, 0 (off) to 86400. */
export function parseRevalidateSeconds(value: unknown, where: string): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 86_400) throw new ConfigError(`${where} must be whole seconds from 0 (off) to 86400, got ${JSON.stringify(value)}`);
  return n;
}

/** A tenant's `alerts` (or the single-tenant flags), with the secret read from its file. */
export function parseAlerts(value: unknown, where: string): AlertsConfig {
  try {
    return parseAlertsConfig(value, where, (path) => readFileSync(path, "utf8"));
  } catch (e) {
    if (e instanceof AlertsConfigError) throw new ConfigError(e.message);
    throw e;
  }
}

export interface ProxyConfig {
  /** Host suffix after the slug, e.g. "proxy.example.com"; unset accepts any suffix. */
  domain?: string;
  tenants: Map<string, TenantConfig>;
  /** Single-tenant mode: every Host maps to this tenant. */
  single?: TenantConfig;
  /** Trust X-Forwarded-Proto/Host from the load balancer when building public URLs. */
  trustForwardedHeaders: boolean;
  /** How long SIGTERM waits for streams in flight. */
  shutdownGraceMs: number;
  /** Largest request body accepted (default {@link DEFAULT_MAX_BODY_BYTES}); larger gets 413. */
  maxBodyBytes?: number;
  /** A keep-alive connection idle this long is closed (default {@link DEFAULT_IDLE_TIMEOUT_SECONDS}). */
  idleTimeoutSeconds?: number;
}

/** The Anthropic API accepts Messages requests up to 32 MB. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 120;
/** Bun.serve's largest idle timeout (it throws above 255); 0 (never) is not offered. */
export const MAX_IDLE_TIMEOUT_SECONDS = 255;

/** `--max-body-bytes` / `maxBodyBytes`: a positive integer number of bytes. */
export function parseMaxBodyBytes(value: unknown, where: string): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${where} must be a positive whole number of bytes, got ${JSON.stringify(value)}`);
  return n;
}

/** `--idle-timeout` / `idleTimeoutSeconds`: whole seconds, 1 to 255 (never unlimited). */
export function parseIdleTimeout(value: unknown, where: string): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_IDLE_TIMEOUT_SECONDS) {
    throw new ConfigError(`${where} must be whole seconds from 1 to ${MAX_IDLE_TIMEOUT_SECONDS}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export class ConfigError extends Error {}

function str(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "") throw new ConfigError(`${where} must be a non-empty string`);
  return value;
}

function strings(value: unknown, where: string, allowEmpty = false): string[] {
  if (value === undefined && allowEmpty) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string") || (!allowEmpty && value.length === 0)) {
    throw new ConfigError(`${where} must be ${allowEmpty ? "a" : "a non-empty"} string array`);
  }
  return value as string[];
}

/** The app client's sign-out URLs: loopback, as the CLI will require of the discovery document. */
function logoutUris(value: unknown, where: string): string[] {
  const uris = strings(value, where, true);
  uris.forEach((uri, i) => {
    try {
      checkRedirectUri(`${where}[${i}]`, uri);
    } catch (e) {
      if (e instanceof EndpointPolicyError) throw new ConfigError(e.message);
      throw e;
    }
  });
  return uris;
}

/** Sent in a URL and shown to the user: short, printable, no control characters (the CLI's rule, shared/tenant-discovery.ts). */
function printable(value: unknown, where: string): string {
  if (typeof value !== "string" || !/^[^\p{Cc}\p{Cf}]{1,128}$/u.test(value)) throw new ConfigError(`${where} must be a printable string of 1 to 128 characters`);
  return value;
}

/**
 * `configDir`: where a relative `policy` path is resolved from (the configuration file's directory).
 * `pool`: given apart (`--upstreams FILE`) instead of the object's `upstreams` or shorthand.
 */
export function parseTenant(slug: string, raw: unknown, given: { configDir?: string; pool?: PoolConfig; single?: boolean } = {}): TenantConfig {
  const { configDir = process.cwd(), pool } = given;
  const where = `tenants.${slug}`;
  if (typeof raw !== "object" || raw === null) throw new ConfigError(`${where} must be an object`);
  const t = raw as Record<string, unknown>;
  const issuer = str(t.issuer, `${where}.issuer`).replace(/\/+$/, "");
  const clientIds = strings(t.clientIds, `${where}.clientIds`);
  const cli = (t.cli ?? {}) as Record<string, unknown>;
  const publicUrl = t.publicUrl !== undefined ? str(t.publicUrl, `${where}.publicUrl`).replace(/\/+$/, "") : undefined;
  return {
    slug,
    issuer,
    jwksUri: t.jwksUri !== undefined ? str(t.jwksUri, `${where}.jwksUri`) : `${issuer}/.well-known/jwks.json`,
    clientIds,
    requiredGroups: strings(t.requiredGroups, `${where}.requiredGroups`, true),
    pool: pool ?? poolOf(t, where),
    cli: {
      client_id: cli.client_id !== undefined ? str(cli.client_id, `${where}.cli.client_id`) : (clientIds[0] as string),
      redirect_uris: strings(cli.redirect_uris ?? ["http://localhost:53682/callback", "http://localhost:53683/callback", "http://localhost:53684/callback"], `${where}.cli.redirect_uris`),
      scopes: strings(cli.scopes ?? ["openid", "email", "profile"], `${where}.cli.scopes`),
      ...(typeof cli.refresh_token_lifetime_seconds === "number" ? { refresh_token_lifetime_seconds: cli.refresh_token_lifetime_seconds } : {}),
      ...(typeof cli.access_token_lifetime_seconds === "number" ? { access_token_lifetime_seconds: cli.access_token_lifetime_seconds } : {}),
      ...(cli.logout_uris !== undefined ? { logout_uris: logoutUris(cli.logout_uris, `${where}.cli.logout_uris`) } : {}),
      ...(cli.identity_provider !== undefined ? { identity_provider: printable(cli.identity_provider, `${where}.cli.identity_provider`) } : {}),
      ...(cli.idp_identifier !== undefined ? { idp_identifier: printable(cli.idp_identifier, `${where}.cli.idp_identifier`) } : {}),
    },
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    ...(t.adminGroups !== undefined ? { adminGroups: strings(t.adminGroups, `${where}.adminGroups`, true) } : {}),
    ...(t.prices !== undefined ? { prices: parsePricesOrFail(t.prices, `${where}.prices`) } : {}),
    ...(t.rateLimits !== undefined ? { rateLimits: parseRateDefaults(t.rateLimits, `${where}.rateLimits`) } : {}),
    ...(t.policy !== undefined ? { policy: policySpecOf(t.policy, configDir, `${where}.policy`) } : {}),
    ...(t.revalidateSeconds !== undefined ? { revalidateSeconds: parseRevalidateSeconds(t.revalidateSeconds, `${where}.revalidateSeconds`) } : {}),
    ...(t.alerts !== undefined ? { alerts: parseAlerts(t.alerts, `${where}.alerts`) } : {}),
    ...(t.console !== undefined ? { console: parseConsoleConfig(t.console, `${where}.console`, { slug, clientIds, anyHost: given.single === true, ...(publicUrl !== undefined ? { publicUrl } : {}) }) } : {}),
  };
}

function poolOf(t: Record<string, unknown>, where: string): PoolConfig {
  try {
    return poolConfigOfTenant(t, where);
  } catch (e) {
    if (e instanceof UpstreamError) throw new ConfigError(e.message, { cause: e });
    throw e;
  }
}

function parsePricesOrFail(raw: unknown, where: string): PriceTableOverride {
  try {
    return parsePriceTable(raw, where, true);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/** `{ "perPerson": { "rpm": 60, "tpm": 400000 }, "perTenant": { "rpm": 2000 } }`. */
export function parseRateDefaults(raw: unknown, where: string): RateDefaults {
  if (typeof raw !== "object" || raw === null) throw new ConfigError(`${where} must be an object with perPerson and/or perTenant`);
  const out: RateDefaults = {};
  for (const scope of ["perPerson", "perTenant"] as const) {
    const v = (raw as Record<string, unknown>)[scope];
    if (v === undefined) continue;
    if (typeof v !== "object" || v === null) throw new ConfigError(`${where}.${scope} must be an object with rpm and/or tpm`);
    const limits: { rpm?: number; tpm?: number } = {};
    for (const k of ["rpm", "tpm"] as const) {
      const n = (v as Record<string, unknown>)[k];
      if (n === undefined) continue;
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${where}.${scope}.${k} must be a positive whole number`);
      limits[k] = n;
    }
    out[scope] = limits;
  }
  return out;
}

const SLUG = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function parseConfigFile(path: string): ProxyConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`cannot read the proxy configuration ${path}: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null) throw new ConfigError(`${path}: expected a JSON object`);
  const root = json as Record<string, unknown>;
  if (typeof root.tenants !== "object" || root.tenants === null) throw new ConfigError(`${path}: "tenants" must be an object keyed by slug`);
  const tenants = new Map<string, TenantConfig>();
  for (const [slug, raw] of Object.entries(root.tenants)) {
    if (!SLUG.test(slug)) throw new ConfigError(`${path}: tenant slug "${slug}" is not a DNS label`);
    tenants.set(slug, parseTenant(slug, raw, { configDir: dirname(path) }));
  }
  return {
    ...(typeof root.domain === "string" ? { domain: root.domain.toLowerCase() } : {}),
    tenants,
    trustForwardedHeaders: root.trustForwardedHeaders === true,
    shutdownGraceMs: typeof root.shutdownGraceSeconds === "number" ? root.shutdownGraceSeconds * 1000 : 30_000,
    ...(root.maxBodyBytes !== undefined ? { maxBodyBytes: parseMaxBodyBytes(root.maxBodyBytes, `${path}: maxBodyBytes`) } : {}),
    ...(root.idleTimeoutSeconds !== undefined ? { idleTimeoutSeconds: parseIdleTimeout(root.idleTimeoutSeconds, `${path}: idleTimeoutSeconds`) } : {}),
  };
}

/** Picks the tenant for a Host header: the first label is the slug. */
export function tenantForHost(config: ProxyConfig, host: string | null): TenantConfig | undefined {
  if (config.single) return config.single;
  if (!host) return undefined;
  const name = host.toLowerCase().replace(/:\d+$/, "");
  const dot = name.indexOf(".");
  if (dot <= 0) return undefined;
  if (config.domain && name.slice(dot + 1) !== config.domain) return undefined;
  return config.tenants.get(name.slice(0, dot));
}
