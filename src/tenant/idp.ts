/**
 * A Cognito-like identity provider on oidc-provider: issuer `<origin>/<poolId>`, the Cognito
 * endpoint paths under it, a public app client with PKCE S256 and exact redirect URIs, RS256
 * JWT access tokens with Cognito's claims, a real login page, Cognito's refresh behaviour
 * (no refresh_token in a refresh response unless rotation is on), a federated corporate IdP
 * behind `identity_provider`, and Cognito's `/logout`.
 *
 * This module only assembles and routes; the parts live in ./idp/:
 *   accounts.ts   users, email sign-in, federated accounts
 *   config.ts     the oidc-provider configuration (client, claims, TTLs, Cognito paths)
 *   provider.ts   a Provider instance with the stats events and Cognito's response quirks
 *   login.ts      the hosted sign-in page and the return from a federated IdP
 *   federation.ts the corporate IdP's own sign-in page
 *   logout.ts     Cognito's logout endpoint
 *   userinfo.ts   Cognito's userInfo endpoint (accepts the pool's access tokens)
 *   admin.ts      the `/_admin/` control plane for tests (loopback only: the tenant binds 127.0.0.1):
 *                 stats, faults, key rotation, and disable / enable / global sign-out of a user
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import { AccountDirectory, EMAIL_SIGN_IN_USER, EXAMPLE_CORP } from "./idp/accounts.ts";
import { FaultQueue, handleAdmin, newStats, type IdpStats, type UserAction } from "./idp/admin.ts";
import { defaultLogoutUris, newSigningJwk, providerConfiguration, SCOPES, type IdpOptions } from "./idp/config.ts";
import { CorporateIdps, FEDERATED_IDP_ROOT } from "./idp/federation.ts";
import { guard, send } from "./idp/http.ts";
import { handleLogin } from "./idp/login.ts";
import { handleLogout } from "./idp/logout.ts";
import { createProvider } from "./idp/provider.ts";
import { handleUserInfo } from "./idp/userinfo.ts";
import { revokeAccount } from "./memory-store.ts";

export { subjectOf, EMAIL_SIGN_IN_USER, EXAMPLE_CORP, type TenantUser, type FederatedIdp, type CorporateUser } from "./idp/accounts.ts";
export type { IdpStats, TokenFault, UserAction } from "./idp/admin.ts";
export type { ConsoleClient, IdpOptions } from "./idp/config.ts";

export interface Idp {
  issuer: string;
  scopes: string[];
  /** The app client's registered sign-out URLs (`logout_uri` of `/logout`). */
  logoutUris: string[];
  handle(req: IncomingMessage, res: ServerResponse): void;
  stats: IdpStats;
  /** Generates a new signing key and publishes it first in the JWKS (the old key stays published). */
  rotateSigningKey(): void;
}

export async function createIdp(options: IdpOptions): Promise<Idp> {
  const issuer = `${options.origin}/${options.poolId}`;
  const prefix = `/${options.poolId}`;
  const logoutUris = options.logoutUris ?? defaultLogoutUris(options.redirectUris);
  // The email-sign-in user is always there (unless a user of that name was given), so every pool shape can be tested.
  const users = options.users.some((u) => u.username === EMAIL_SIGN_IN_USER.username) ? options.users : [...options.users, EMAIL_SIGN_IN_USER];
  const accounts = new AccountDirectory(options.poolId, users, options.federated ?? [EXAMPLE_CORP]);
  const signingKeys = [newSigningJwk()];
  const stats = newStats();
  const faults = new FaultQueue();
  const configuration = providerConfiguration(options, accounts, signingKeys);

  let provider: Provider = createProvider(issuer, configuration, options.rotateRefreshTokens, stats);
  let callback = provider.callback();
  const current = () => provider;

  function rotateSigningKey(): void {
    // oidc-provider reads its keystore once, so a rotation builds a new Provider over the same
    // process-wide MemoryStore; tokens issued before stay valid.
    signingKeys.unshift(newSigningJwk());
    provider = createProvider(issuer, { ...configuration, jwks: { keys: signingKeys as never } }, options.rotateRefreshTokens, stats);
    callback = provider.callback();
  }

  const corporate = new CorporateIdps(accounts, (uid) => `${prefix}/login/${encodeURIComponent(uid)}/idpresponse`);
  const loginDeps = { provider: current, accounts, corporate, prefix };
  const otherClients = options.consoleClient ? { [options.consoleClient.clientId]: options.consoleClient.logoutUris } : {};
  const logoutDeps = { provider: current, prefix, clientId: options.clientId, logoutUris, otherClients, stats };
  /** Cognito's AdminDisableUser / AdminEnableUser / AdminUserGlobalSignOut on one account. */
  function userAction(username: string, action: UserAction): boolean {
    const account = accounts.byUsername(username);
    if (!account) return false;
    if (action === "enable") {
      accounts.setDisabled(account.sub, false);
      return true;
    }
    if (action === "disable") accounts.setDisabled(account.sub, true);
    else accounts.signOutEverywhere(account.sub, Math.floor(Date.now() / 1000));
    // Both end every refresh token (and the tokens issued from them); disable also ends the
    // hosted-login sessions, so no silent sign-in brings the person back.
    revokeAccount(account.sub, { sessions: action === "disable" });
    return true;
  }
  const plane = { stats, faults, rotateSigningKey, userAction };

  function forward(req: IncomingMessage, res: ServerResponse, url: string): void {
    // oidc-provider is mounted under the pool id: it reads originalUrl for its own URLs.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
    req.url = url.slice(prefix.length) || "/";
    callback(req, res);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const raw = req.url ?? "/";
    const url = new URL(raw, "http://idp.invalid");
    const path = url.pathname;
    if (path.startsWith("/_admin/")) return guard(res, handleAdmin(plane, req, res, path));
    if (path.startsWith(FEDERATED_IDP_ROOT)) return guard(res, corporate.handle(req, res, url));
    if (!path.startsWith(prefix + "/") && path !== prefix) return send(res, 404, "text/plain", "not found");
    if (path.startsWith(`${prefix}/login/`)) return guard(res, handleLogin(loginDeps, req, res, url));
    if (path === `${prefix}/logout`) return guard(res, handleLogout(logoutDeps, req, res, url));
    if (path === `${prefix}/oauth2/userInfo`) return guard(res, handleUserInfo({ provider: current, issuer, accounts, signingKeys: () => signingKeys }, req, res));
    if (path === `${prefix}/oauth2/revoke` && req.method === "POST") stats.revocations++;
    if (path === `${prefix}/oauth2/token` && req.method === "POST") {
      stats.tokenRequests++;
      return guard(res, faults.apply(res).then((answered) => void (answered || forward(req, res, raw))));
    }
    forward(req, res, raw);
  }

  return { issuer, scopes: SCOPES, logoutUris, handle, stats, rotateSigningKey };
}
