/**
 * The OAuth/OIDC requests the CLI makes, on oauth4webapi. This module turns its results into
 * TokenSets and its failures into CliErrors (or RefreshRejected for a dead refresh token), so
 * nothing above it sees a protocol exception.
 */
import * as oauth from "oauth4webapi";
import { CliError, ExitCode, RefreshRejected } from "../errors.ts";
import { COMMIT, VERSION } from "../version.ts";
import type { Endpoints, Profile } from "../config.ts";
import type { TokenSet } from "../session/records.ts";
import { discoveryUrlFor, parseTenantDiscovery, DiscoveryFormatError, DiscoveryPolicyError, type TenantDiscovery } from "../../shared/tenant-discovery.ts";
import { checkEndpointUrl, checkProfileUrls, checkRedirectUri, checkTenantUrl, EndpointPolicyError, isLoopbackHost } from "../../shared/endpoint-policy.ts";
import { boundedCustomFetch, boundedFetch, ResponseTooLarge, type TlsTrust } from "./bounded-fetch.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";
import { isTlsFailure } from "../../shared/tls-failure.ts";

/**
 * Total time for one request to the IdP: bounded, so a hung IdP never hangs Claude Code.
 * AGENT_RUNNER_AUTH_HTTP_TIMEOUT_MS overrides it (slow networks; the tests).
 */
export const REQUEST_TIMEOUT_MS = Number(process.env.AGENT_RUNNER_AUTH_HTTP_TIMEOUT_MS) > 0 ? Number(process.env.AGENT_RUNNER_AUTH_HTTP_TIMEOUT_MS) : 15_000;

export { RefreshRejected };

/** What the IdP and the tenant see in their logs: the build's version and commit, and the platform. */
export const USER_AGENT = `agent-runner-auth/${VERSION} (${COMMIT}; ${process.platform} ${process.arch})`;

/** The callback's state is not this login's: a stale or forged browser tab. */
export class CallbackStateMismatch extends CliError {
  override readonly name: string = "CallbackStateMismatch";
  readonly code = "callback-state-mismatch";
  constructor(cause: unknown) {
    super("auth-required", "the sign-in callback carried the wrong state (a stale or forged browser tab)", "Run the login again and finish it in the browser tab it opens.", { cause });
  }
}

type FetchLike = (url: string, options: RequestInit) => Promise<Response>;

/**
 * Options for every request to the IdP or the tenant: the URL passes the endpoint policy first
 * (http(s) only, plain http only to this machine), and the response is read through the bounded
 * fetch (size cap, one deadline for the whole exchange) trusting `trust`'s certificates.
 */
export function requestOptions(url: string, trust: TlsTrust): { signal: AbortSignal; [oauth.allowInsecureRequests]?: boolean; [oauth.customFetch]: FetchLike; headers: Record<string, string> } {
  const { protocol, hostname } = checkEndpointUrl("the request URL", url);
  return {
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    headers: { "user-agent": USER_AGENT },
    [oauth.customFetch]: boundedCustomFetch({ timeoutMs: REQUEST_TIMEOUT_MS, trust }),
    ...(protocol === "http:" && isLoopbackHost(hostname) ? { [oauth.allowInsecureRequests]: true } : {}),
  };
}

/** A GET (or any request) to the IdP or the tenant with the same policy and bounds as the OAuth requests. */
export function guardedFetch(url: string, init: RequestInit, trust: TlsTrust): Promise<Response> {
  const { [oauth.customFetch]: _, [oauth.allowInsecureRequests]: __, ...options } = requestOptions(url, trust);
  return boundedFetch(url, { ...options, ...init, headers: { ...options.headers, ...(init.headers as Record<string, string> | undefined) } }, { timeoutMs: REQUEST_TIMEOUT_MS, trust });
}

/**
 * A request whose answer the caller reads as it arrives and bounds itself (doctor --deep, the
 * keep-fresh forwarder): the endpoint policy and the trusted certificates, nothing buffered.
 */
export async function streamingFetch(url: string, init: RequestInit, trust: TlsTrust): Promise<Response> {
  checkEndpointUrl("the request URL", url);
  return fetch(url, { ...init, ...trust.fetchOptions() });
}

const FIX_PROFILE = "Fix the profile file, or run 'agent-runner-auth login <tenant URL>' again to rewrite it.";

/**
 * Refuses a profile whose URLs break the endpoint policy (a hand-edited or old profile file),
 * before anything is sent or opened. `source` names the file when the caller knows it.
 */
export function checkProfile(profile: Profile, source = "the saved profile", hint = FIX_PROFILE): void {
  try {
    checkProfileUrls(profile);
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw new CliError(ExitCode.config, sanitizeForTerminal(`${source}: ${e.message}`), hint);
    throw e;
  }
}

function authorizationServer(profile: Pick<Profile, "issuer" | "endpoints">): oauth.AuthorizationServer {
  return {
    issuer: profile.issuer,
    authorization_endpoint: profile.endpoints.authorization,
    token_endpoint: profile.endpoints.token,
    revocation_endpoint: profile.endpoints.revocation,
    userinfo_endpoint: profile.endpoints.userinfo,
  };
}

/**
 * The client, with this machine's clock corrected by the IdP's: the skew is read from the
 * response's Date header, so ID token time checks hold on a machine whose clock is hours off.
 * (Expiry of the tokens we keep never depends on the clock: it comes from `expires_in`.)
 */
function client(profile: Pick<Profile, "clientId">, response?: Response): oauth.Client {
  const serverNow = Date.parse(response?.headers.get("date") ?? "");
  const skew = Number.isFinite(serverNow) ? Math.round((serverNow - Date.now()) / 1000) : 0;
  return { client_id: profile.clientId, [oauth.clockTolerance]: 300, [oauth.clockSkew]: skew };
}

/** Maps any failure of a request to the IdP to a CliError with a cause the user can act on. */
export function idpFailure(action: string, url: string, error: unknown): CliError {
  const host = sanitizeForTerminal(URL.canParse(url) ? new URL(url).host : url);
  if (error instanceof CliError) return error;
  if (error instanceof EndpointPolicyError) {
    return new CliError(ExitCode.config, `refusing to ${action}: ${sanitizeForTerminal(error.message)}`, FIX_PROFILE);
  }
  if (error instanceof ResponseTooLarge) {
    return new CliError(ExitCode.idpUnavailable, `the server at ${host} sent too large a response (over ${Math.round(error.limitBytes / 1024)} KiB) when asked to ${action}`, "The identity provider or tenant is misbehaving; tell your administrator.");
  }
  if (error instanceof oauth.ResponseBodyError) {
    // error and error_description are the IdP's words: shown, but never as terminal controls.
    const description = error.error_description ? `: ${error.error_description}` : "";
    return new CliError(ExitCode.idpUnavailable, sanitizeForTerminal(`the identity provider refused to ${action} (${error.status} ${error.error}${description})`));
  }
  const e = error as Error & { code?: string; cause?: unknown };
  if (isTimeout(error)) {
    return new CliError(ExitCode.idpUnavailable, `the identity provider at ${host} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s (${action})`, "Check your network or VPN and try again.", { cause: error });
  }
  if (error instanceof oauth.OperationProcessingError) {
    const response = (e.cause as { status?: number } | undefined)?.status;
    if (e.code === oauth.RESPONSE_IS_NOT_CONFORM && typeof response === "number") {
      return new CliError(ExitCode.idpUnavailable, `the identity provider at ${host} answered HTTP ${response} (${action})`, response >= 500 || response === 429 ? "It may be overloaded or down; try again in a minute." : undefined, { cause: error });
    }
    return new CliError(ExitCode.idpUnavailable, `the identity provider at ${host} sent an invalid response (${action}): ${sanitizeForTerminal(e.message)}`, undefined, { cause: error });
  }
  const code = typeof e?.code === "string" ? e.code : "";
  if (isTlsFailure(code)) {
    return new CliError(
      ExitCode.idpUnavailable,
      `the TLS certificate of ${host} is not trusted (${action}): ${sanitizeForTerminal(e?.message)}`,
      "A TLS-inspecting proxy? Pass --ca-file with your organisation's CA bundle (or point NODE_EXTRA_CA_CERTS or SSL_CERT_FILE at it).",
      { cause: error },
    );
  }
  if (UNREACHABLE_CODES.has(code)) {
    return new CliError(ExitCode.idpUnavailable, `cannot reach the identity provider at ${host} (${action})`, "Check your network, VPN or HTTPS_PROXY settings and try again.", { cause: error });
  }
  return new CliError(ExitCode.idpUnavailable, `request to the identity provider at ${host} failed (${action}): ${sanitizeForTerminal(e?.message ?? String(error))}`, undefined, { cause: error });
}

/** AbortSignal.timeout's DOMException, or the bounded fetch's deadline (a TimeoutError). */
function isTimeout(error: unknown): boolean {
  const name = error instanceof DOMException || error instanceof Error ? error.name : undefined;
  return name === "TimeoutError" || name === "AbortError";
}

/** Error codes of a connection that never came up (refused, no route, DNS). */
const UNREACHABLE_CODES = new Set(["ConnectionRefused", "ECONNREFUSED", "FailedToOpenSocket", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ConnectionClosed", "DNSException"]);

function toTokenSet(response: oauth.TokenEndpointResponse): TokenSet {
  const expiresIn = response.expires_in;
  if (typeof expiresIn !== "number" || !(expiresIn > 0)) {
    throw new CliError(ExitCode.idpUnavailable, "the identity provider's token response has no valid expires_in");
  }
  return {
    accessToken: response.access_token,
    expiresIn,
    ...(typeof response.id_token === "string" ? { idToken: response.id_token } : {}),
    ...(typeof response.refresh_token === "string" && response.refresh_token !== "" ? { refreshToken: response.refresh_token } : {}),
  };
}

/** Retries once on 429/503 when the IdP asks for it with a short Retry-After. */
async function withRetryAfter(send: () => Promise<Response>): Promise<Response> {
  const response = await send();
  if (response.status !== 429 && response.status !== 503) return response;
  const retryAfter = Number(response.headers.get("retry-after"));
  if (!Number.isFinite(retryAfter) || retryAfter < 0 || retryAfter > 10) return response;
  await response.body?.cancel();
  await new Promise((r) => setTimeout(r, retryAfter * 1000));
  return send();
}

export async function refreshTokens(profile: Profile, refreshToken: string, trust: TlsTrust): Promise<TokenSet> {
  checkProfile(profile);
  const as = authorizationServer(profile);
  try {
    const response = await withRetryAfter(() =>
      oauth.refreshTokenGrantRequest(as, client(profile), oauth.None(), refreshToken, requestOptions(profile.endpoints.token, trust)),
    );
    return toTokenSet(await oauth.processRefreshTokenResponse(as, client(profile, response), response));
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError && e.error === "invalid_grant") throw new RefreshRejected(e.error, { cause: e });
    throw idpFailure("refresh the session", profile.endpoints.token, e);
  }
}

export interface CodeExchange {
  callbackParameters: URLSearchParams;
  redirectUri: string;
  codeVerifier: string;
  nonce: string;
}

export async function exchangeCode(profile: Profile, exchange: CodeExchange, trust: TlsTrust): Promise<TokenSet> {
  checkProfile(profile);
  const as = authorizationServer(profile);
  try {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client(profile),
      oauth.None(),
      exchange.callbackParameters,
      exchange.redirectUri,
      exchange.codeVerifier,
      requestOptions(profile.endpoints.token, trust),
    );
    const result = await oauth.processAuthorizationCodeResponse(as, client(profile, response), response, { expectedNonce: exchange.nonce, requireIdToken: true });
    const tokens = toTokenSet(result);
    if (!tokens.refreshToken) throw new CliError(ExitCode.idpUnavailable, "the identity provider returned no refresh token", "Enable the refresh token grant on the app client.");
    return tokens;
  } catch (e) {
    throw idpFailure("complete the sign-in", profile.endpoints.token, e);
  }
}

/** Revokes a refresh token (Cognito also invalidates the access tokens issued from it). */
export async function revokeRefreshToken(profile: Profile, refreshToken: string, trust: TlsTrust): Promise<void> {
  if (!profile.endpoints.revocation) throw new CliError(ExitCode.idpUnavailable, "the identity provider has no revocation endpoint");
  checkProfile(profile);
  const as = authorizationServer(profile);
  try {
    const response = await oauth.revocationRequest(as, client(profile), oauth.None(), refreshToken, {
      ...requestOptions(profile.endpoints.revocation, trust),
      additionalParameters: { token_type_hint: "refresh_token" },
    });
    await oauth.processRevocationResponse(response);
  } catch (e) {
    throw idpFailure("revoke the session", profile.endpoints.revocation, e);
  }
}

async function getJson(url: string, what: string, trust: TlsTrust): Promise<unknown> {
  let response: Response;
  try {
    response = await guardedFetch(url, { redirect: "manual" }, trust);
  } catch (e) {
    throw idpFailure(`read the ${what}`, url, e);
  }
  if (response.status !== 200) {
    throw new CliError(ExitCode.idpUnavailable, `${sanitizeForTerminal(url)} answered HTTP ${response.status} instead of the ${what}`, "Check the tenant URL (it is the https://<slug>.proxy.<domain> address your administrator gave you).");
  }
  try {
    return await response.json();
  } catch {
    throw new CliError(ExitCode.idpUnavailable, `${sanitizeForTerminal(url)} did not return JSON (${what})`);
  }
}

/** Runs a policy check, turning its refusal into a CliError with the given exit code. */
function withPolicy<T>(code: ExitCode, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw new CliError(code, sanitizeForTerminal(e.message));
    throw e;
  }
}

export const ASK_ADMIN = "The tenant's configuration is unsafe or wrong; tell your administrator (nothing was opened or sent).";

export async function fetchTenantDiscovery(tenantUrl: string, trust: TlsTrust): Promise<TenantDiscovery> {
  withPolicy(ExitCode.usage, () => checkTenantUrl("the tenant URL", tenantUrl));
  const url = discoveryUrlFor(tenantUrl);
  try {
    return parseTenantDiscovery(await getJson(url, "tenant discovery document", trust), tenantUrl);
  } catch (e) {
    // A URL the CLI must not use is a bad configuration (5); other format errors stay 3.
    if (e instanceof DiscoveryPolicyError) throw new CliError(ExitCode.config, sanitizeForTerminal(`${url}: ${e.message}`), ASK_ADMIN);
    if (e instanceof DiscoveryFormatError) throw new CliError(ExitCode.idpUnavailable, sanitizeForTerminal(`${url}: ${e.message}`));
    throw e;
  }
}

/** OpenID Provider discovery of the issuer (Cognito serves it under the issuer path). */
export async function discoverEndpoints(issuer: string, trust: TlsTrust): Promise<Endpoints> {
  const issuerUrl = withPolicy(ExitCode.config, () => checkEndpointUrl("the issuer", issuer));
  let as: oauth.AuthorizationServer;
  try {
    const response = await oauth.discoveryRequest(issuerUrl, { algorithm: "oidc", ...requestOptions(issuer, trust) });
    as = await oauth.processDiscoveryResponse(issuerUrl, response);
  } catch (e) {
    throw idpFailure("read the OpenID configuration", issuer, e);
  }
  if (!as.authorization_endpoint || !as.token_endpoint) {
    throw new CliError(ExitCode.idpUnavailable, `the OpenID configuration of ${sanitizeForTerminal(issuer)} lacks the authorization or token endpoint`);
  }
  try {
    for (const key of ["authorization_endpoint", "token_endpoint", "revocation_endpoint", "userinfo_endpoint", "end_session_endpoint", "jwks_uri"] as const) {
      if (as[key] !== undefined) checkEndpointUrl(`"${key}"`, as[key]);
    }
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw new CliError(ExitCode.config, `the OpenID configuration of ${sanitizeForTerminal(issuer)}: ${sanitizeForTerminal(e.message)}`, ASK_ADMIN);
    throw e;
  }
  return {
    authorization: as.authorization_endpoint,
    token: as.token_endpoint,
    ...(as.revocation_endpoint ? { revocation: as.revocation_endpoint } : {}),
    ...(as.userinfo_endpoint ? { userinfo: as.userinfo_endpoint } : {}),
    ...(as.end_session_endpoint ? { endSession: as.end_session_endpoint } : {}),
  };
}

/** PKCE S256 always (Cognito does not advertise it: never detect it from discovery). */
export async function newAuthorizationRequest(profile: Profile, redirectUri: string, extra: Readonly<Record<string, string>> = {}) {
  // The last gate before the browser: never open javascript:, file:, data: or a remote redirect.
  checkProfile(profile);
  withPolicy(ExitCode.config, () => checkRedirectUri("the redirect URI", redirectUri));
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(profile.endpoints.authorization);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", profile.clientId);
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("scope", profile.scopes.join(" "));
  url.searchParams.set("state", state);
  url.searchParams.set("nonce", nonce);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set("code_challenge_method", "S256");
  // identity_provider, idp_identifier, login_hint, prompt (authorize-params.ts): never the above.
  for (const [name, value] of Object.entries(extra)) if (!url.searchParams.has(name)) url.searchParams.set(name, value);
  return { url, codeVerifier, state, nonce };
}

/**
 * Checks a callback's parameters (state, iss, error) with oauth4webapi. Returns the parameters
 * for the code exchange, or throws a CliError that says what the IdP or the callback got wrong.
 */
export function validateCallback(profile: Profile, callbackUrl: URL, expectedState: string): URLSearchParams {
  try {
    return oauth.validateAuthResponse(authorizationServer(profile), client(profile), callbackUrl, expectedState);
  } catch (e) {
    if (e instanceof oauth.AuthorizationResponseError) {
      throw new CliError(ExitCode.authRequired, sanitizeForTerminal(`the identity provider returned an error: ${e.error}${e.error_description ? ` (${e.error_description})` : ""}`));
    }
    // oauth4webapi checks iss, then state: a state that differs from this login's is the stale tab.
    if (e instanceof oauth.OperationProcessingError && e.code === oauth.INVALID_RESPONSE && callbackUrl.searchParams.get("state") !== expectedState) {
      throw new CallbackStateMismatch(e);
    }
    throw new CliError(ExitCode.authRequired, `invalid sign-in callback: ${sanitizeForTerminal((e as Error).message)}`, undefined, { cause: e });
  }
}
