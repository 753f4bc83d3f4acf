/**
 * What is kept in each store entry. The access entry carries its own expiry, computed from the
 * IdP's `expires_in` on the local clock when it arrived (so clock skew between this machine and
 * the IdP does not matter), and its lifetime, for the freshness rule.
 */

export interface TokenSet {
  accessToken: string;
  /** Seconds, as returned by the IdP. */
  expiresIn: number;
  idToken?: string;
  /** Absent on a Cognito refresh response without rotation. */
  refreshToken?: string;
}

export interface AccessRecord {
  token: string;
  /** Epoch ms on the local clock. */
  expiresAt: number;
  /** Lifetime as issued, in ms. */
  lifetimeMs: number;
}

export interface RefreshRecord {
  token: string;
  /** When this refresh token arrived (a sign-in, or a rotation). */
  issuedAt: number;
  /** When the session began (the sign-in), kept across rotations; absent in records written before it was kept. */
  signedInAt?: number;
  /**
   * The absolute end of the session: sign-in + the refresh token lifetime. A rotated refresh
   * token keeps it (Cognito). Known only when the tenant publishes the lifetime.
   */
  expiresAt?: number;
}

function parseRecord(raw: string | null): Record<string, unknown> | null {
  if (raw === null) return null;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A damaged entry reads as absent (and is replaced by the next write), never as a crash. */
export function decodeAccess(raw: string | null): AccessRecord | null {
  const r = parseRecord(raw);
  if (!r || typeof r.token !== "string" || typeof r.expiresAt !== "number" || typeof r.lifetimeMs !== "number") return null;
  return { token: r.token, expiresAt: r.expiresAt, lifetimeMs: r.lifetimeMs };
}

export function decodeRefresh(raw: string | null): RefreshRecord | null {
  const r = parseRecord(raw);
  if (!r || typeof r.token !== "string" || r.token === "" || typeof r.issuedAt !== "number") return null;
  return { token: r.token, issuedAt: r.issuedAt, ...(typeof r.signedInAt === "number" ? { signedInAt: r.signedInAt } : {}), ...(typeof r.expiresAt === "number" ? { expiresAt: r.expiresAt } : {}) };
}

export const encodeRecord = (record: AccessRecord | RefreshRecord): string => JSON.stringify(record);

/**
 * How long a served token must still be valid. The requested validity (minimum validity, or
 * the consumer's cache TTL plus a margin) is capped just under the token's own lifetime, so a
 * freshly issued token always qualifies and short-lived tokens do not refresh on every call.
 */
export function requiredValidityMs(requestedMs: number, lifetimeMs: number): number {
  const cap = lifetimeMs - Math.min(60_000, lifetimeMs * 0.2);
  return Math.max(0, Math.min(requestedMs, cap));
}

export function isFresh(record: AccessRecord, now: number, requestedValidityMs: number): boolean {
  return record.expiresAt - now >= requiredValidityMs(requestedValidityMs, record.lifetimeMs);
}

/** The unverified claims of a JWT we received directly from the IdP over TLS (for display only). */
export function jwtClaims(token: string | null | undefined): Record<string, unknown> | null {
  const payload = token?.split(".")[1];
  if (!payload) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The name to show for the signed-in user. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The name to show for the person: the Cognito user name, except in pools that sign in with
 * email, where `username` is a UUID (the `sub`) and the ID token's `email` is what people know.
 */
export function displayUser(claims: Record<string, unknown> | null): string | undefined {
  if (!claims) return undefined;
  const name = claims["cognito:username"] ?? claims.username ?? claims.email ?? claims.sub;
  if (typeof name === "string" && UUID.test(name) && typeof claims.email === "string" && claims.email !== "") return claims.email;
  return typeof name === "string" ? name : undefined;
}
