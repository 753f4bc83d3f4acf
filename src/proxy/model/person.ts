/**
 * The people the gateway serves: who a request is for (as the verified token and the IdP say),
 * the identifiers an admin may name them by, and the people seen (remembered by the state store
 * so an admin's `user` value resolves to who they really are).
 */

/** Who a request is for, as the verified token and the IdP say. */
export interface Person {
  tenant: string;
  sub: string;
  username?: string;
  email?: string;
  /** Email if known, else username, else sub. */
  displayName: string;
  groups: readonly string[];
}

/** What the denylist checks a token by. */
export interface TokenIdentity {
  sub?: string;
  username?: string;
  email?: string;
  origin_jti?: string;
}

/** What an admin's `--user` value is, when they say (`kind`); otherwise it may be any of them. */
export type UserKind = "sub" | "username" | "email";

/** A person the gateway has seen a verified token of, as the state store remembers them. */
export interface SeenPerson {
  tenant: string;
  sub: string;
  username?: string;
  /** Lower-case; from the token, or from the IdP's userInfo for pools that sign in with email. */
  email?: string;
  displayName: string;
  /** Their `cognito:groups` at the last sighting written (for `admin policy explain`). */
  groups?: readonly string[];
  firstSeen: number;
  lastSeen: number;
}

/**
 * Identifiers an admin names a person by (sub, username, email), compared without regard to
 * case: Cognito compares usernames and emails case-insensitively, and a sub is lower-case.
 */
export function normaliseUserId(id: string): string {
  return id.toLowerCase();
}

/** Every form a budget or limit stored by user may name this person by (stored names from before case-folding included). */
export function personIds(person: { sub: string; username?: string; email?: string }): Set<string> {
  const ids = new Set([person.sub, normaliseUserId(person.sub)]);
  if (person.username) {
    ids.add(person.username);
    ids.add(normaliseUserId(person.username));
  }
  if (person.email) ids.add(normaliseUserId(person.email));
  return ids;
}

/** The kinds of identifier by which `value` names this person (none: it does not). */
export function matchedBy(person: { sub: string; username?: string; email?: string }, value: string): UserKind[] {
  const v = normaliseUserId(value);
  const kinds: UserKind[] = [];
  if (normaliseUserId(person.sub) === v) kinds.push("sub");
  if (person.username !== undefined && normaliseUserId(person.username) === v) kinds.push("username");
  if (person.email !== undefined && normaliseUserId(person.email) === v) kinds.push("email");
  return kinds;
}
