/**
 * Cognito's `/oauth2/userInfo`: it accepts the pool's own access token (oidc-provider's userinfo
 * refuses JWT access tokens issued for a resource server, so this endpoint is served here) and
 * answers `sub`, `username`, `email`, `email_verified` (a string, as Cognito sends it). The token
 * is verified with the pool's signing keys. Refused with 401, as Cognito refuses them: a token of
 * a revoked sign-in (its grant gone: `/oauth2/revoke` of the refresh token, global sign-out,
 * disable), a token issued before the user's global sign-out, and any token of a disabled user.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import type Provider from "oidc-provider";
import type { AccountDirectory } from "./accounts.ts";
import { send } from "./http.ts";

export interface UserInfoDeps {
  provider(): Provider;
  issuer: string;
  accounts: AccountDirectory;
  /** The pool's signing keys (private JWKs; only their public parts are used). */
  signingKeys(): Record<string, unknown>[];
}

const JSON_TYPE = "application/json";

function invalidToken(res: ServerResponse, description: string): void {
  send(res, 401, JSON_TYPE, JSON.stringify({ error: "invalid_token", error_description: description }), {
    "www-authenticate": `Bearer error="invalid_token", error_description="${description}"`,
  });
}

const publicPart = ({ kty, n, e, kid, alg, use }: Record<string, unknown>) => ({ kty, n, e, kid, alg, use });

export async function handleUserInfo(deps: UserInfoDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "POST") return send(res, 405, "text/plain", "method not allowed", { allow: "GET, POST" });
  const token = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
  if (!token) return invalidToken(res, "Access token is missing");
  const keys = createLocalJWKSet({ keys: deps.signingKeys().map(publicPart) } as JSONWebKeySet);
  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, { issuer: deps.issuer, algorithms: ["RS256"] }));
  } catch {
    return invalidToken(res, "Invalid access token");
  }
  if (claims.token_use !== "access" || typeof claims.sub !== "string") return invalidToken(res, "Access token is not an access token");
  const account = deps.accounts.account(claims.sub);
  if (!account) return invalidToken(res, "User does not exist");
  if (deps.accounts.isDisabled(account.sub)) return invalidToken(res, "User is disabled");
  const grant = typeof claims.origin_jti === "string" ? await deps.provider().Grant.find(claims.origin_jti) : undefined;
  if (!grant) return invalidToken(res, "Access token has been revoked");
  if (deps.accounts.issuedBeforeSignOut(account.sub, typeof claims.iat === "number" ? claims.iat : 0)) return invalidToken(res, "Access token has been revoked");
  send(res, 200, JSON_TYPE, JSON.stringify({ sub: account.sub, email_verified: "true", email: account.email, username: account.username }));
}
