/**
 * A Cognito-like identity provider on oidc-provider: issuer `<origin>/<poolId>`, the Cognito
 * endpoint paths under it, a public app client with PKCE S256 and exact redirect URIs, RS256
 * JWT access tokens with Cognito's claims, a real login page, and Cognito's refresh behaviour
 * (no refresh_token in a refresh response unless rotation is on).
 *
 * It also carries a small control plane under `/_admin/` (loopback only: the whole tenant
 * binds 127.0.0.1) so tests can count grants and inject faults at the token endpoint.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHash, generateKeyPairSync, randomUUID } from "node:crypto";
import Provider, { type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import { renderLoginPage } from "./login-page.ts";
import { MemoryStore } from "./memory-store.ts";

export interface TenantUser {
  username: string;
  password: string;
  email?: string;
  groups?: string[];
}

export interface IdpOptions {
  origin: string; // e.g. http://127.0.0.1:4000
  poolId: string;
  clientId: string;
  redirectUris: string[];
  users: TenantUser[];
  accessTokenTtl: number;
  refreshTokenTtl: number;
  rotateRefreshTokens: boolean;
}

/** Faults a test can ask the token endpoint for. */
export type TokenFault =
  | { kind: "status"; status: number; retryAfter?: number; body?: string }
  | { kind: "delay"; ms: number }
  | { kind: "malformed-json" }
  | { kind: "missing-access-token" };

export interface IdpStats {
  grants: Record<string, number>; // successful token requests by grant_type
  grantErrors: Record<string, number>;
  tokenRequests: number;
  revocations: number;
  authorizations: number;
}

export interface Idp {
  issuer: string;
  scopes: string[];
  handle(req: IncomingMessage, res: ServerResponse): void;
  stats: IdpStats;
  /** Generates a new signing key and publishes it first in the JWKS (the old key stays published). */
  rotateSigningKey(): void;
}

const SCOPES = ["openid", "email", "profile"];
const RESOURCE = "urn:agent-runner:tenant"; // oidc-provider needs an audience for JWT access tokens

/** Cognito subjects are UUIDs; derive a stable one from the username. */
export function subjectOf(username: string): string {
  const h = createHash("sha256").update(`agent-runner-local:${username}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function newSigningJwk(): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" }) as Record<string, unknown>;
  return { ...jwk, kid: randomUUID(), alg: "RS256", use: "sig" };
}

export async function createIdp(options: IdpOptions): Promise<Idp> {
  const issuer = `${options.origin}/${options.poolId}`;
  const prefix = `/${options.poolId}`;
  const users = new Map(options.users.map((u) => [u.username, u]));
  const usersBySub = new Map(options.users.map((u) => [subjectOf(u.username), u]));
  const signingKeys = [newSigningJwk()];
  const stats: IdpStats = { grants: {}, grantErrors: {}, tokenRequests: 0, revocations: 0, authorizations: 0 };
  let tokenFaults: TokenFault[] = [];

  const configuration: Configuration = {
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
    ],
    routes: {
      authorization: "/oauth2/authorize",
      token: "/oauth2/token",
      revocation: "/oauth2/revoke",
      userinfo: "/oauth2/userInfo",
      end_session: "/logout",
      jwks: "/.well-known/jwks.json",
    },
    scopes: SCOPES,
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["cognito:username", "cognito:groups"] },
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
      Session: 3600,
      Grant: options.refreshTokenTtl,
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: () => options.rotateRefreshTokens,
    findAccount: async (_ctx, sub) => {
      const user = usersBySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          email: user.email ?? `${user.username}@example.invalid`,
          email_verified: true,
          "cognito:username": user.username,
          "cognito:groups": user.groups ?? [],
        }),
      };
    },
    extraTokenClaims: async (ctx, token) => {
      if (token.kind !== "AccessToken") return undefined;
      const user = usersBySub.get(String(token.accountId));
      const session = ctx.oidc.entities.Session;
      return {
        token_use: "access",
        username: user?.username ?? token.accountId,
        "cognito:groups": user?.groups ?? [],
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
      const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!doctype html><title>Error</title><h1>Sign-in error</h1><p>${esc(out.error)}: ${esc(out.error_description)}</p>`;
    },
  };

  let provider = new Provider(issuer, configuration);
  wireProvider(provider);

  function wireProvider(p: Provider): void {
    p.proxy = false;
    p.on("grant.success", (ctx: KoaContextWithOIDC) => {
      const type = String(ctx.oidc.params?.grant_type ?? "unknown");
      stats.grants[type] = (stats.grants[type] ?? 0) + 1;
    });
    p.on("grant.error", (ctx: KoaContextWithOIDC) => {
      const type = String(ctx.oidc.params?.grant_type ?? "unknown");
      stats.grantErrors[type] = (stats.grantErrors[type] ?? 0) + 1;
    });
    p.on("authorization.success", () => {
      stats.authorizations++;
    });
    // Cognito returns no refresh_token on a refresh grant unless rotation is on, and does not
    // advertise PKCE in its discovery document (clients must send S256 regardless).
    p.use(async (ctx, next) => {
      await next();
      if (ctx.path === "/.well-known/openid-configuration" && typeof ctx.body === "object" && ctx.body !== null) {
        delete (ctx.body as Record<string, unknown>).code_challenge_methods_supported;
      }
      if (
        !options.rotateRefreshTokens &&
        ctx.path === "/oauth2/token" &&
        ctx.method === "POST" &&
        ctx.status === 200 &&
        ctx.oidc?.params?.grant_type === "refresh_token" &&
        typeof ctx.body === "object" &&
        ctx.body !== null
      ) {
        delete (ctx.body as Record<string, unknown>).refresh_token;
      }
    });
  }
  const providerCallback = () => provider.callback();
  let callback = providerCallback();

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...headers });
    res.end(body);
  }

  async function handleLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      send(res, 400, "text/html; charset=utf-8", renderLoginPage({ error: "This sign-in link has expired. Start again from the application." }));
      return;
    }
    const client = details.params.client_id;
    if (req.method === "GET") {
      send(res, 200, "text/html; charset=utf-8", renderLoginPage({ action: `${prefix}/login/${details.uid}`, clientId: String(client) }));
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const username = form.get("username") ?? "";
    const user = users.get(username);
    if (!user || user.password !== (form.get("password") ?? "")) {
      send(
        res,
        200,
        "text/html; charset=utf-8",
        renderLoginPage({ action: `${prefix}/login/${details.uid}`, clientId: String(client), username, error: "Incorrect username or password." }),
      );
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: subjectOf(user.username) } }, { mergeWithLastSubmission: false });
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === "/_admin/stats" && req.method === "GET") {
      send(res, 200, "application/json", JSON.stringify(stats));
    } else if (path === "/_admin/faults" && req.method === "POST") {
      tokenFaults = JSON.parse((await readBody(req)) || "[]") as TokenFault[];
      send(res, 204, "text/plain", "");
    } else if (path === "/_admin/rotate-key" && req.method === "POST") {
      rotateSigningKey();
      send(res, 204, "text/plain", "");
    } else {
      send(res, 404, "text/plain", "not found");
    }
  }

  /** Applies the next queued fault to a token request; returns true when it answered. */
  async function applyTokenFault(res: ServerResponse): Promise<boolean> {
    const fault = tokenFaults.shift();
    if (!fault) return false;
    switch (fault.kind) {
      case "status":
        send(res, fault.status, "application/json", fault.body ?? JSON.stringify({ error: "server_error" }), fault.retryAfter !== undefined ? { "retry-after": String(fault.retryAfter) } : {});
        return true;
      case "delay":
        await new Promise((r) => setTimeout(r, fault.ms));
        return false;
      case "malformed-json":
        send(res, 200, "application/json", '{"access_token": "abc", ');
        return true;
      case "missing-access-token":
        send(res, 200, "application/json", JSON.stringify({ token_type: "Bearer", expires_in: 3600 }));
        return true;
    }
  }

  function rotateSigningKey(): void {
    // oidc-provider reads its keystore once, so a rotation builds a new Provider over the same
    // process-wide MemoryStore; tokens issued before stay valid.
    signingKeys.unshift(newSigningJwk());
    provider = new Provider(issuer, { ...configuration, jwks: { keys: signingKeys as never } });
    wireProvider(provider);
    callback = providerCallback();
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    const path = url.split("?")[0] ?? "/";
    if (path.startsWith("/_admin/")) {
      void handleAdmin(req, res, path).catch((e) => send(res, 500, "text/plain", String(e)));
      return;
    }
    if (!path.startsWith(prefix + "/") && path !== prefix) {
      send(res, 404, "text/plain", "not found");
      return;
    }
    if (path.startsWith(`${prefix}/login/`)) {
      void handleLogin(req, res).catch((e) => send(res, 500, "text/plain", String(e)));
      return;
    }
    const forward = () => {
      // oidc-provider is mounted under the pool id: it reads originalUrl for its own URLs.
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
      req.url = url.slice(prefix.length) || "/";
      callback(req, res);
    };
    if (path === `${prefix}/oauth2/revoke` && req.method === "POST") stats.revocations++;
    if (path === `${prefix}/oauth2/token` && req.method === "POST") {
      stats.tokenRequests++;
      void applyTokenFault(res).then((answered) => answered || forward());
      return;
    }
    forward();
  }

  return { issuer, scopes: SCOPES, handle, stats, rotateSigningKey };
}
