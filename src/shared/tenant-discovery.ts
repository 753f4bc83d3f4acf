/**
 * The tenant discovery document: RFC 9728 OAuth protected-resource metadata for
 * `<tenant>/anthropic`, plus the public client configuration the CLI needs in the
 * extension member `agent_runner_auth`. Served at
 * `<tenant>/.well-known/oauth-protected-resource/anthropic` (RFC 9728 section 3.1:
 * the well-known suffix is inserted before the resource's path).
 *
 * One module builds and parses it so that the IdP, the proxy and the CLI agree.
 */

import { checkEndpointUrl, checkRedirectUri, EndpointPolicyError } from "./endpoint-policy.ts";

export const DISCOVERY_PATH = "/.well-known/oauth-protected-resource/anthropic";
export const RESOURCE_PATH = "/anthropic";

export interface CliClientConfig {
  /** Cognito app client id (public client, no secret). */
  client_id: string;
  /** Registered loopback redirect URIs, tried in order (Cognito matches them exactly). */
  redirect_uris: string[];
  /** Scopes to request; never `offline_access` (Cognito always returns a refresh token). */
  scopes: string[];
  /** Refresh token lifetime configured on the app client, if the tenant publishes it. */
  refresh_token_lifetime_seconds?: number;
  /** Access token lifetime, so `setup claude` can size Claude Code's helper TTL. */
  access_token_lifetime_seconds?: number;
  /** The app client's registered sign-out URLs (loopback), for the pool's `/logout?logout_uri=`. */
  logout_uris?: string[];
  /** Default `identity_provider` for /oauth2/authorize: send everyone straight to the company IdP. */
  identity_provider?: string;
  /** Default `idp_identifier` (e.g. an email domain) for /oauth2/authorize. */
  idp_identifier?: string;
}

export interface TenantDiscovery {
  resource: string;
  authorization_servers: [string, ...string[]];
  bearer_methods_supported: string[];
  resource_name?: string;
  agent_runner_auth: CliClientConfig;
}

export function buildTenantDiscovery(
  tenantUrl: string,
  issuer: string,
  client: CliClientConfig,
  name?: string,
): TenantDiscovery {
  const base = tenantUrl.replace(/\/+$/, "");
  return {
    resource: base + RESOURCE_PATH,
    authorization_servers: [issuer],
    bearer_methods_supported: ["header"],
    ...(name ? { resource_name: name } : {}),
    agent_runner_auth: client,
  };
}

export function discoveryUrlFor(tenantUrl: string): string {
  const url = new URL(tenantUrl);
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.origin}${DISCOVERY_PATH}${path === "" ? "" : path}`;
}

export class DiscoveryFormatError extends Error {}

/** A well-formed document naming a URL the CLI must not use (endpoint-policy.ts). */
export class DiscoveryPolicyError extends DiscoveryFormatError {}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/** Validates an untrusted document; throws DiscoveryFormatError naming the bad member. */
export function parseTenantDiscovery(json: unknown, tenantUrl: string): TenantDiscovery {
  const fail = (what: string): never => {
    throw new DiscoveryFormatError(`tenant discovery document: ${what}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("not a JSON object");
  const doc = json as Record<string, unknown>;
  const expectedResource = tenantUrl.replace(/\/+$/, "") + RESOURCE_PATH;
  if (doc.resource !== expectedResource) {
    // RFC 9728 section 3.3: the resource must match the URL the metadata was fetched for.
    fail(`"resource" is ${JSON.stringify(doc.resource)}, expected ${JSON.stringify(expectedResource)}`);
  }
  const servers = doc.authorization_servers;
  if (!isStringArray(servers) || servers.length === 0) fail(`"authorization_servers" must be a non-empty string array`);
  const client = doc.agent_runner_auth as Record<string, unknown> | undefined;
  if (typeof client !== "object" || client === null) fail(`"agent_runner_auth" member is missing`);
  const c = client as Record<string, unknown>;
  if (typeof c.client_id !== "string" || c.client_id === "") fail(`"agent_runner_auth.client_id" is missing`);
  if (!isStringArray(c.redirect_uris) || c.redirect_uris.length === 0) fail(`"agent_runner_auth.redirect_uris" is missing`);
  if (!isStringArray(c.scopes)) fail(`"agent_runner_auth.scopes" must be a string array`);
  for (const key of ["refresh_token_lifetime_seconds", "access_token_lifetime_seconds"] as const) {
    if (c[key] !== undefined && (typeof c[key] !== "number" || !(Number(c[key]) > 0))) fail(`"agent_runner_auth.${key}" must be a positive number`);
  }
  if (c.logout_uris !== undefined && !isStringArray(c.logout_uris)) fail(`"agent_runner_auth.logout_uris" must be a string array`);
  for (const key of ["identity_provider", "idp_identifier"] as const) {
    // Shown to the user and sent in a URL: short, printable, no controls.
    if (c[key] !== undefined && (typeof c[key] !== "string" || !/^[^\p{Cc}\p{Cf}]{1,128}$/u.test(c[key] as string))) fail(`"agent_runner_auth.${key}" must be a short printable string`);
  }
  try {
    ((c.logout_uris ?? []) as string[]).forEach((uri, i) => checkRedirectUri(`"agent_runner_auth.logout_uris[${i}]"`, uri));
    (servers as string[]).forEach((server, i) => checkEndpointUrl(`"authorization_servers[${i}]"`, server));
    (c.redirect_uris as string[]).forEach((uri, i) => checkRedirectUri(`"agent_runner_auth.redirect_uris[${i}]"`, uri));
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw new DiscoveryPolicyError(`tenant discovery document: ${e.message}`);
    throw e;
  }
  return doc as unknown as TenantDiscovery;
}
