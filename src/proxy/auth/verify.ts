/**
 * Verifies a Cognito access token locally, as aws-jwt-verify does: RS256 only, `kid` from the
 * issuer's JWKS, exact `iss`, `exp`/`nbf` with 60 s of skew, `token_use == "access"`, `client_id`
 * in the allowed list, optional groups. No `aud` (Cognito access tokens have none).
 * jose does the JOSE work; this module adds Cognito's rules and names each failure.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import type { IssuerKeys } from "./jwks.ts";

export const CLOCK_SKEW_SECONDS = 60;
export const MAX_TOKEN_LENGTH = 16_384; // Claude Code's own limit for a helper value

export type RejectReason =
  | "missing"
  | "malformed"
  | "algorithm"
  | "unknown_kid"
  | "signature"
  | "issuer"
  | "expired"
  | "not_yet_valid"
  | "token_use"
  | "client_id"
  | "group"
  /** An administrator revoked the person (denylist by sub, username or email). */
  | "person_revoked"
  /** The sign-in was ended (logout; denylist by origin_jti). */
  | "session_revoked";

export class TokenRejected extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

export interface AccessPolicy {
  issuer: string;
  clientIds: ReadonlySet<string>;
  requiredGroups: readonly string[];
}

export interface VerifiedUser {
  sub: string;
  username: string;
  clientId: string;
  groups: string[];
  exp: number;
  /** When the token (or a pre-token-generation trigger) carries it. */
  email?: string;
  /** Cognito's session id: every access token refreshed from one sign-in shares it. */
  originJti?: string;
  jti?: string;
}

/** Bearer first, then x-api-key (Claude Code sends its helper's value as both). */
export function extractToken(headers: Headers): string | null {
  const authorization = headers.get("authorization");
  if (authorization) {
    const match = /^Bearer[ ]+(\S*)\s*$/i.exec(authorization);
    if (match?.[1]) return match[1];
  }
  const apiKey = headers.get("x-api-key")?.trim();
  return apiKey ? apiKey : null;
}

export async function verifyAccessToken(token: string | null, policy: AccessPolicy, keys: IssuerKeys): Promise<VerifiedUser> {
  if (!token) throw new TokenRejected("missing", "missing credentials: send a Cognito access token as 'Authorization: Bearer <token>' (run 'agent-runner-auth token')");
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    throw new TokenRejected("malformed", "the credential is not a JWT access token");
  }
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new TokenRejected("malformed", "the credential is not a JWT access token");
  }
  if (header.alg !== "RS256") throw new TokenRejected("algorithm", `token algorithm ${JSON.stringify(header.alg ?? null)} is not accepted (RS256 only)`);
  if (typeof header.kid !== "string" || header.kid === "") throw new TokenRejected("unknown_kid", "token has no key id (kid)");
  const key = await keys.get(header.kid);
  if (!key) throw new TokenRejected("unknown_kid", "token was signed with a key the tenant's identity provider does not publish");

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key, { algorithms: ["RS256"], issuer: policy.issuer, clockTolerance: CLOCK_SKEW_SECONDS }));
  } catch (e) {
    if (e instanceof errors.JWTExpired) throw new TokenRejected("expired", "the access token has expired: get a new one with 'agent-runner-auth token'");
    if (e instanceof errors.JWTClaimValidationFailed) {
      if (e.claim === "iss") throw new TokenRejected("issuer", "the access token was issued by another identity provider than this tenant's");
      if (e.claim === "nbf") throw new TokenRejected("not_yet_valid", "the access token is not valid yet (check the clock)");
      throw new TokenRejected("malformed", `the access token's "${e.claim}" claim is invalid`);
    }
    if (e instanceof errors.JWSSignatureVerificationFailed) throw new TokenRejected("signature", "the access token's signature is invalid");
    throw new TokenRejected("malformed", "the credential is not a valid JWT access token");
  }
  if (typeof payload.exp !== "number") throw new TokenRejected("malformed", "the access token has no expiry");
  if (payload.token_use !== "access") {
    throw new TokenRejected("token_use", payload.token_use === "id" ? "an ID token was sent; send the access token ('agent-runner-auth token' prints it)" : "the credential is not an access token");
  }
  const clientId = payload.client_id;
  if (typeof clientId !== "string" || !policy.clientIds.has(clientId)) throw new TokenRejected("client_id", "the access token was issued to an app client this tenant does not accept");
  const rawGroups = payload["cognito:groups"];
  const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === "string") : [];
  if (policy.requiredGroups.length > 0 && !policy.requiredGroups.some((g) => groups.includes(g))) {
    throw new TokenRejected("group", `your user is not in a group allowed to use this tenant (${policy.requiredGroups.join(", ")})`);
  }
  return {
    sub: String(payload.sub ?? ""),
    username: typeof payload.username === "string" ? payload.username : String(payload.sub ?? ""),
    clientId,
    groups,
    exp: payload.exp,
    ...(typeof payload.email === "string" && payload.email !== "" ? { email: payload.email } : {}),
    ...(typeof payload.origin_jti === "string" && payload.origin_jti !== "" ? { originJti: payload.origin_jti } : {}),
    ...(typeof payload.jti === "string" && payload.jti !== "" ? { jti: payload.jti } : {}),
  };
}

/**
 * Verified tokens, remembered until they expire, so a client that sends the same token on every
 * request (Claude Code does, for up to an hour) costs one RS256 verification instead of one per
 * request (jose + WebCrypto: ~80 µs each here). Only tokens that passed every check are kept,
 * per tenant policy; expiry is still checked on every hit; the cache is cleared whenever the
 * issuer's key set changes, so a withdrawn key stops its tokens at once. Envoy's jwt_authn
 * offers the same (jwt_cache_config).
 */
export class VerifiedTokenCache {
  private entries = new Map<string, VerifiedUser>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(token: string): VerifiedUser | undefined {
    const user = this.entries.get(token);
    if (user && this.now() / 1000 > user.exp + CLOCK_SKEW_SECONDS) {
      this.entries.delete(token);
      throw new TokenRejected("expired", "the access token has expired: get a new one with 'agent-runner-auth token'");
    }
    return user;
  }

  set(token: string, user: VerifiedUser): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, user);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
