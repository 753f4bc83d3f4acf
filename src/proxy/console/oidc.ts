/**
 * The console's sign-in with the tenant's Cognito, as a confidential-less web client (public app
 * client, PKCE S256, exact redirect URI): the authorization URL, the code exchange, the silent
 * refresh and the revocation at sign-out, on oauth4webapi. Every request to the IdP is bounded:
 * one deadline for the whole exchange and at most 64 KiB of body (shared/read-capped.ts).
 */
import * as oauth from "oauth4webapi";
import { readCapped } from "../../shared/read-capped.ts";

export interface ConsoleIdp {
  /** The pool's issuer (`https://cognito-idp.<region>.amazonaws.com/<poolId>`). */
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint?: string;
  /** Cognito's `/logout` (clears the hosted-login cookie), with the app client's registered `logoutUri`. */
  logoutEndpoint?: string;
  logoutUri?: string;
  /** The console's app client (tenant config `console.clientId`). */
  clientId: string;
  /** `https://<tenant host>/_gateway/console/callback`, registered on that app client. */
  redirectUri: string;
  scopes: readonly string[];
}

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms, from expires_in (never from the local clock's reading of the token). */
  expiresAt: number;
}

export type SignInErrorCode = "idp_refused" | "idp_unreachable" | "idp_invalid" | "callback_invalid";

/** A sign-in step failed; the message is safe to show (no token, no secret). */
export class SignInError extends Error {
  constructor(
    readonly code: SignInErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const IDP_TIMEOUT_MS = 10_000;
export const IDP_MAX_BYTES = 64 * 1024;

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

const isLoopback = (url: string) => ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);

/** fetch with the whole body read under the cap and one deadline (what oauth4webapi's customFetch expects back: a buffered Response). */
export function boundedFetch(fetchImpl: FetchLike = fetch): FetchLike {
  return async (url, init) => {
    const signal = AbortSignal.timeout(IDP_TIMEOUT_MS);
    const response = await fetchImpl(url, { ...init, signal, redirect: "manual" });
    const tooLarge = () => new SignInError("idp_invalid", `the identity provider at ${new URL(url).host} sent more than ${IDP_MAX_BYTES / 1024} KiB`);
    if (Number(response.headers.get("content-length") ?? 0) > IDP_MAX_BYTES) {
      void response.body?.cancel().catch(() => {});
      throw tooLarge();
    }
    const body = response.body ? await readCapped(response.body, IDP_MAX_BYTES, { tooLarge, signal }) : null;
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

function server(idp: ConsoleIdp): oauth.AuthorizationServer {
  return { issuer: idp.issuer, authorization_endpoint: idp.authorizationEndpoint, token_endpoint: idp.tokenEndpoint, ...(idp.revocationEndpoint ? { revocation_endpoint: idp.revocationEndpoint } : {}) };
}

const client = (idp: ConsoleIdp): oauth.Client => ({ client_id: idp.clientId, [oauth.clockTolerance]: 300 });

function options(url: string, fetchImpl: FetchLike) {
  return { [oauth.customFetch]: boundedFetch(fetchImpl), ...(url.startsWith("http:") && isLoopback(url) ? { [oauth.allowInsecureRequests]: true } : {}) };
}

export async function authorizationUrl(idp: ConsoleIdp, state: string, codeVerifier: string): Promise<string> {
  const url = new URL(idp.authorizationEndpoint);
  url.searchParams.set("client_id", idp.clientId);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("redirect_uri", idp.redirectUri);
  url.searchParams.set("scope", idp.scopes.join(" "));
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set("code_challenge_method", "S256");
  return url.href;
}

export const newCodeVerifier = () => oauth.generateRandomCodeVerifier();

/** Turns any failure of an IdP request into a SignInError naming what to do. */
function failure(action: string, url: string, e: unknown): SignInError {
  if (e instanceof SignInError) return e;
  const host = new URL(url).host;
  if (e instanceof oauth.ResponseBodyError) return new SignInError("idp_refused", `the identity provider refused to ${action} (${e.status} ${e.error}); sign in again`, { cause: e });
  if (e instanceof oauth.AuthorizationResponseError) return new SignInError("idp_refused", `the identity provider answered the sign-in with ${e.error}; sign in again`, { cause: e });
  if (e instanceof oauth.OperationProcessingError) return new SignInError("idp_invalid", `the identity provider at ${host} sent an invalid answer when asked to ${action}: ${e.message}`, { cause: e });
  const name = (e as Error)?.name;
  if (name === "TimeoutError" || name === "AbortError") return new SignInError("idp_unreachable", `the identity provider at ${host} did not answer within ${IDP_TIMEOUT_MS / 1000} s (${action})`, { cause: e });
  return new SignInError("idp_unreachable", `the identity provider at ${host} could not be reached (${action}): ${(e as Error)?.message ?? e}`, { cause: e });
}

function tokens(result: oauth.TokenEndpointResponse, now: number): TokenSet {
  const ttl = typeof result.expires_in === "number" && result.expires_in > 0 ? result.expires_in : 300;
  return { accessToken: result.access_token, ...(result.refresh_token ? { refreshToken: result.refresh_token } : {}), expiresAt: now + ttl * 1000 };
}

/** Checks the callback (state, error, iss) and exchanges the code with the PKCE verifier. */
export async function exchangeCode(idp: ConsoleIdp, callbackUrl: URL, expectedState: string, codeVerifier: string, now: number, fetchImpl: FetchLike = fetch): Promise<TokenSet> {
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(server(idp), client(idp), callbackUrl, expectedState);
  } catch (e) {
    if (e instanceof oauth.AuthorizationResponseError) throw failure("sign you in", idp.tokenEndpoint, e);
    throw new SignInError("callback_invalid", `the sign-in answer does not match the sign-in this browser started (${(e as Error).message}); sign in again`, { cause: e });
  }
  try {
    const response = await oauth.authorizationCodeGrantRequest(server(idp), client(idp), oauth.None(), params, idp.redirectUri, codeVerifier, options(idp.tokenEndpoint, fetchImpl));
    return tokens(await oauth.processAuthorizationCodeResponse(server(idp), client(idp), response, { expectedNonce: oauth.expectNoNonce, requireIdToken: false }), now);
  } catch (e) {
    throw failure("complete the sign-in", idp.tokenEndpoint, e);
  }
}

/** A new access token from the refresh token; the refresh token is kept unless the IdP rotates it. */
export async function refreshTokens(idp: ConsoleIdp, refreshToken: string, now: number, fetchImpl: FetchLike = fetch): Promise<TokenSet> {
  try {
    const response = await oauth.refreshTokenGrantRequest(server(idp), client(idp), oauth.None(), refreshToken, options(idp.tokenEndpoint, fetchImpl));
    const set = tokens(await oauth.processRefreshTokenResponse(server(idp), client(idp), response), now);
    return { ...set, refreshToken: set.refreshToken ?? refreshToken };
  } catch (e) {
    throw failure("refresh the console session", idp.tokenEndpoint, e);
  }
}

/** Revokes the refresh token at sign-out (Cognito also ends the access tokens issued from it); best effort. */
export async function revokeRefreshToken(idp: ConsoleIdp, refreshToken: string, fetchImpl: FetchLike = fetch): Promise<boolean> {
  if (!idp.revocationEndpoint) return false;
  try {
    const response = await oauth.revocationRequest(server(idp), client(idp), oauth.None(), refreshToken, { ...options(idp.revocationEndpoint, fetchImpl), additionalParameters: { token_type_hint: "refresh_token" } });
    await oauth.processRevocationResponse(response);
    return true;
  } catch {
    return false;
  }
}

/** The console's app client as the tenant config names it (`console: {clientId, redirectUri, logoutUri?}`). */
export interface ConsoleClientConfig {
  clientId: string;
  redirectUri: string;
  /** A sign-out URL registered on the app client; without it, sign-out ends only the console's session. */
  logoutUri?: string;
}

/**
 * The IdP's endpoints from its discovery document (bounded fetch), for the console's client.
 * Cognito serves `/logout` beside `/oauth2/authorize` on the pool's domain (it is not in the
 * discovery document), so it is derived from the authorization endpoint.
 */
export async function discoverConsoleIdp(issuer: string, client: ConsoleClientConfig, scopes: readonly string[] = ["openid", "email", "profile"], fetchImpl: FetchLike = fetch): Promise<ConsoleIdp> {
  const url = new URL(issuer);
  let as: oauth.AuthorizationServer;
  try {
    as = await oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { algorithm: "oidc", ...options(issuer, fetchImpl) }));
  } catch (e) {
    throw failure("describe itself (discovery)", issuer, e);
  }
  if (!as.authorization_endpoint || !as.token_endpoint) throw new SignInError("idp_invalid", `the identity provider at ${url.host} names no authorization or token endpoint`);
  const authorize = new URL(as.authorization_endpoint);
  const logout = new URL(authorize.pathname.replace(/\/oauth2\/authorize$/, "/logout"), authorize.origin).href;
  return {
    issuer: as.issuer,
    authorizationEndpoint: as.authorization_endpoint,
    tokenEndpoint: as.token_endpoint,
    ...(as.revocation_endpoint ? { revocationEndpoint: as.revocation_endpoint } : {}),
    ...(client.logoutUri ? { logoutEndpoint: logout, logoutUri: client.logoutUri } : {}),
    clientId: client.clientId,
    redirectUri: client.redirectUri,
    scopes,
  };
}

/** Where the browser goes after sign-out: Cognito's /logout (ending the hosted-login session) when registered, else the console. */
export function signedOutUrl(idp: ConsoleIdp, fallback: string): string {
  if (!idp.logoutEndpoint || !idp.logoutUri) return fallback;
  const url = new URL(idp.logoutEndpoint);
  url.searchParams.set("client_id", idp.clientId);
  url.searchParams.set("logout_uri", idp.logoutUri);
  return url.href;
}
