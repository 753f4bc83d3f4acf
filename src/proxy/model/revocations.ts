/**
 * Revocations: an administrator withdrawing a person's access (by any identifier), or a sign-in
 * ended by logout (`origin_jti`). Each expires on its own once every token it could stop has.
 */
import { normaliseUserId, type TokenIdentity, type UserKind } from "./person.ts";

/** `user`: the person whose sub, username or email is the value (compared without regard to case); `origin_jti`: one sign-in. */
export type RevocationKind = UserKind | "user" | "origin_jti";

export interface Revocation {
  tenant: string;
  kind: RevocationKind;
  value: string;
  /** Expires on its own: the longest access-token lifetime after the revocation. */
  until: number;
  at: number;
  by?: string;
  reason?: string;
}

/**
 * The denylist keys a token's claims are checked against: each identifier under its own kind,
 * and under `user` (a revocation naming the person by any identifier).
 */
export function identityKeys(identity: TokenIdentity): [RevocationKind, string][] {
  const keys: [RevocationKind, string][] = [];
  if (identity.sub) keys.push(["sub", identity.sub]);
  if (identity.username) keys.push(["username", identity.username]);
  if (identity.email) keys.push(["email", identity.email.toLowerCase()]);
  if (identity.origin_jti) keys.push(["origin_jti", identity.origin_jti]);
  const any = new Set([identity.sub, identity.username, identity.email].filter((v): v is string => !!v).map(normaliseUserId));
  for (const v of any) keys.push(["user", v]);
  return keys;
}

export const revocationValue = (kind: RevocationKind, value: string) => (kind === "email" || kind === "user" ? normaliseUserId(value) : value);
