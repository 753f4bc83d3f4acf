/**
 * The oidc-provider configuration that makes it look like a Cognito pool: the app client
 * (public, PKCE S256, exact redirect URIs), Cognito's endpoint paths, claims and token lifetimes,
 * no consent screen, RS256 JWT access tokens with Cognito's claims.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import type { Configuration } from "oidc-provider";
import { MemoryStore } from "../memory-store.ts";
import type { AccountDirectory, FederatedIdp, TenantUser } from "./accounts.ts";
import { escapeHtml } from "./http.ts";

export interface IdpOptions {
  origin: string; // e.g. http://127.0.0.1:4000
  poolId: string;
  clientId: string;
  redirectUris: string[];
  /** The app client's sign-out URLs (Cognito's `logout_uri`); default: `/logged-out` on each redirect URI's origin. */
  logoutUris?: string[];
  users: TenantUser[];
  /** Corporate IdPs federated into the pool; default: ExampleCorp. */
  federated?: FederatedIdp[];
  accessTokenTtl: number;
  refreshTokenTtl: number;
  rotateRefreshTokens: boolean;
  /** The admin console's app client (the gateway's `/_gateway/console/callback`), registered beside the CLI's. */
  consoleClient?: ConsoleClient;
}

/** A second public app client for the browser console: PKCE, exact redirect and sign-out URLs. */
export interface ConsoleClient {
  clientId: string;
  redirectUris: string[];
  logoutUris: string[];
}

export const SCOPES = ["openid", "email", "profile"];
/** oidc-provider needs an audience for JWT access tokens. */
export const RESOURCE = "urn:agent-runner:tenant";
/** The hosted-login session cookie's lifetime (Cognito: 1 h). */
export const SESSION_TTL = 3600;
/** Cognito's own authorize parameters, which oidc-provider must keep for the login page. */
export const EXTRA_AUTHORIZE_PARAMS = ["identity_provider", "idp_identifier"];

/** Loopback sign-out URLs next to the loopback callbacks, as registered for the CLI client. */
export function defaultLogoutUris(redirectUris: string[]): string[] {
  return [...new Set(redirectUris.map((uri) => `${new URL(uri).origin}/logged-out`))];
}

export function newSigningJwk(): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" }) as Record<string, unknown>;
  return { ...jwk, kid: randomUUID(), alg: "RS256", use: "sig" };
}

export function providerConfiguration(options: IdpOptions, accounts: AccountDirectory, signingKeys: Record<string, unknown>[]): Configuration {
  const prefix = `/${options.poolId}`;
  return {
    adapter: MemoryStore,
    clients: [
      {
        client_id: options.clientId,
        token_endpoint_auth_method: "none",
        application_type: "web", // exact redirect URI matching, like a Cognito app client
        redirect_uris: options.redirectUris,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      },
      ...(options.consoleClient
        ? [
            {
              client_id: options.consoleClient.clientId,
              token_endpoint_auth_method: "none" as const,
              application_type: "web" as const,
              redirect_uris: options.consoleClient.redirectUris,
              grant_types: ["authorization_code", "refresh_token"],
              response_types: ["code" as const],
            },
          ]
        : []),
    ],
    routes: {
      authorization: "/oauth2/authorize",
      token: "/oauth2/token",
      revocation: "/oauth2/revoke",
      userinfo: "/oauth2/userInfo",
      end_session: "/logout", // announced in discovery; served by logout.ts with Cognito's semantics
      jwks: "/.well-known/jwks.json",
    },
    scopes: SCOPES,
    extraParams: EXTRA_AUTHORIZE_PARAMS,
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["cognito:username", "cognito:groups", "identities"] },
    conformIdTokenClaims: false, // Cognito puts the profile claims into the ID token
    pkce: { required: () => true },
    responseTypes: ["code"],
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: SCOPES.join(" "),
          audience: RESOURCE,
          accessTokenFormat: "jwt",
          accessTokenTTL: options.accessTokenTtl,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    ttl: {
      AccessToken: options.accessTokenTtl,
      IdToken: options.accessTokenTtl,
      RefreshToken: options.refreshTokenTtl,
      AuthorizationCode: 300,
      Interaction: 600,
      Session: SESSION_TTL,
      Grant: options.refreshTokenTtl,
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: () => options.rotateRefreshTokens,
    findAccount: async (_ctx, sub) => {
      const account = accounts.account(sub);
      // a disabled user is not found: no refresh (invalid_grant), no silent sign-in
      if (!account || accounts.isDisabled(sub)) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          email: account.email,
          email_verified: true,
          "cognito:username": account.username,
          "cognito:groups": account.groups,
          ...(account.identities ? { identities: account.identities } : {}),
        }),
      };
    },
    extraTokenClaims: async (ctx, token) => {
      if (token.kind !== "AccessToken") return undefined;
      const account = accounts.account(String(token.accountId));
      const session = ctx.oidc.entities.Session;
      return {
        token_use: "access",
        username: account?.username ?? token.accountId,
        "cognito:groups": account?.groups ?? [],
        origin_jti: token.grantId,
        event_id: randomUUID(),
        auth_time: session?.authTime ?? Math.floor(Date.now() / 1000),
      };
    },
    loadExistingGrant: async (ctx) => {
      // No consent screen (a Cognito hosted login has none): grant what the client asks for.
      const accountId = ctx.oidc.session?.accountId;
      const client = ctx.oidc.client;
      if (!accountId || !client) return undefined;
      const existingId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(client.clientId);
      if (existingId) {
        const existing = await ctx.oidc.provider.Grant.find(existingId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId });
      grant.addOIDCScope(SCOPES.join(" "));
      grant.addResourceScope(RESOURCE, SCOPES.join(" "));
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `${prefix}/login/${interaction.uid}` },
    jwks: { keys: signingKeys as never },
    cookies: { keys: [randomUUID(), randomUUID()] },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = `<!doctype html><title>Error</title><h1>Sign-in error</h1><p>${escapeHtml(out.error)}: ${escapeHtml(out.error_description)}</p>`;
    },
  };
}
