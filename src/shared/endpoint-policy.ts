/**
 * Which URLs the CLI may talk to, open in a browser, or listen on. One module, applied at every
 * entry (flags, the tenant discovery document, the issuer's OpenID metadata, a saved profile) and
 * again just before each request, so a hostile or mistyped value never reaches the network, the
 * browser or a settings file:
 *  - endpoints (tenant, issuer, authorization, token, revocation, userinfo, jwks...): http(s)
 *    only (never javascript:, file:, data:...), no credentials in the URL, no fragment; plain
 *    http only to this machine (127.0.0.0/8, ::1, localhost: the local tenant), TLS otherwise;
 *  - redirect URIs: http://localhost, http://127.0.0.1 or http://[::1] with an explicit port
 *    (RFC 8252 section 7.3), nothing else: the code must come back to this machine only.
 * No imports: cheap enough for any path that needs it (never the cached `token` path).
 */

export class EndpointPolicyError extends Error {
  override readonly name = "EndpointPolicyError";
  readonly code = "endpoint_policy";
  constructor(
    /** What the URL is for, e.g. `token endpoint`, `--redirect-uri`. */
    readonly what: string,
    readonly reason: string,
  ) {
    super(`${what} ${reason}`);
  }
}

/** 127.0.0.0/8, ::1 and localhost, as the WHATWG URL parser normalises them (127.1 -> 127.0.0.1). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Short, printable form of a rejected value: never the whole of a hostile string. */
export function describeValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  const short = text.length > 120 ? `${text.slice(0, 117)}...` : text;
  return JSON.stringify(short);
}

function parse(what: string, value: unknown): URL {
  if (typeof value !== "string" || value === "") throw new EndpointPolicyError(what, `must be a URL, got ${describeValue(value)}`);
  try {
    return new URL(value);
  } catch {
    throw new EndpointPolicyError(what, `is not a URL: ${describeValue(value)}`);
  }
}

/** An endpoint the CLI sends requests to (or opens in the browser). Returns the parsed URL. */
export function checkEndpointUrl(what: string, value: unknown): URL {
  const url = parse(what, value);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new EndpointPolicyError(what, `must be an https:// URL, got the scheme "${url.protocol}" (${describeValue(value)})`);
  }
  if (url.username || url.password) throw new EndpointPolicyError(what, `must not carry a user name or password: ${describeValue(url.host)}`);
  if (url.hash) throw new EndpointPolicyError(what, `must not carry a fragment (#...): ${describeValue(value)}`);
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw new EndpointPolicyError(what, `must use https:// (plain http:// is allowed only to this machine), got ${describeValue(value)}`);
  }
  return url;
}

/** A tenant URL: an endpoint without query or fragment (paths are built under it). */
export function checkTenantUrl(what: string, value: unknown): URL {
  const url = checkEndpointUrl(what, value);
  if (url.search) throw new EndpointPolicyError(what, `must not carry a query: ${describeValue(value)}`);
  return url;
}

const REDIRECT_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** A loopback redirect URI: http://localhost|127.0.0.1|[::1]:<port>/path, nothing else. */
export function checkRedirectUri(what: string, value: unknown): URL {
  const url = parse(what, value);
  const hint = "a redirect URI must be http://localhost:<port>/..., http://127.0.0.1:<port>/... or http://[::1]:<port>/...";
  if (url.protocol !== "http:") throw new EndpointPolicyError(what, `is not a loopback address (${hint}), got ${describeValue(value)}`);
  if (!REDIRECT_HOSTS.has(url.hostname.toLowerCase())) throw new EndpointPolicyError(what, `is not a loopback address (${hint}), got ${describeValue(value)}`);
  if (url.username || url.password) throw new EndpointPolicyError(what, `must not carry a user name or password (${hint})`);
  // The WHATWG parser drops a default port (:80), so an explicit one is required in the text too.
  const authority = /^http:\/\/([^/?#]*)/i.exec(value as string)?.[1] ?? "";
  if (!/:\d+$/.test(authority) || Number(url.port || 80) === 0) throw new EndpointPolicyError(what, `needs an explicit port (${hint}), got ${describeValue(value)}`);
  if (url.search || url.hash) throw new EndpointPolicyError(what, `must not carry a query or fragment (${hint}), got ${describeValue(value)}`);
  return url;
}

/** The URLs a profile holds (saved, or being built), named by what they are for. */
export interface ProfileUrls {
  tenant?: string;
  issuer: string;
  redirectUris: string[];
  endpoints: { authorization: string; token: string; revocation?: string; userinfo?: string; endSession?: string };
}

/** Checks every URL of a profile; throws EndpointPolicyError naming the first bad one. */
export function checkProfileUrls(profile: ProfileUrls): void {
  if (profile.tenant !== undefined) checkTenantUrl("the tenant URL", profile.tenant);
  checkEndpointUrl("the issuer", profile.issuer);
  checkEndpointUrl("the authorization endpoint", profile.endpoints.authorization);
  checkEndpointUrl("the token endpoint", profile.endpoints.token);
  for (const key of ["revocation", "userinfo", "endSession"] as const) {
    if (profile.endpoints[key] !== undefined) checkEndpointUrl(`the ${key === "endSession" ? "end-session" : key} endpoint`, profile.endpoints[key]);
  }
  if (!Array.isArray(profile.redirectUris) || profile.redirectUris.length === 0) throw new EndpointPolicyError("the redirect URI list", "is empty");
  for (const uri of profile.redirectUris) checkRedirectUri("the redirect URI", uri);
}
