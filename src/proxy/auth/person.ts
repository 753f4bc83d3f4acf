/** The person a verified token speaks for, as the state layer counts them. */
import type { Person, TokenIdentity } from "../model/person.ts";
import type { VerifiedUser } from "./verify.ts";

/**
 * The verified-token cache hands every request of a token the same user object: its person and
 * identity are built once and shared (never changed: a new e-mail from userInfo builds new ones),
 * so what is derived from them per request (the denylist's key, the people-seen check) can be
 * kept with them too.
 */
const personByUser = new WeakMap<VerifiedUser, Person>();
const identityByUser = new WeakMap<VerifiedUser, TokenIdentity>();

/** `resolvedEmail`: from userInfo (userinfo.ts) when the token has none (email-as-username pools). */
export function personOf(tenant: string, user: VerifiedUser, resolvedEmail?: string): Person {
  const email = user.email ?? resolvedEmail;
  const known = personByUser.get(user);
  if (known !== undefined && known.tenant === tenant && known.email === email) return known;
  const person = buildPerson(tenant, user, email);
  personByUser.set(user, person);
  return person;
}

function buildPerson(tenant: string, user: VerifiedUser, email: string | undefined): Person {
  return {
    tenant,
    sub: user.sub,
    username: user.username,
    ...(email ? { email } : {}),
    // email where the token or userInfo gives one, else the username (which Cognito always sets)
    displayName: email ?? user.username ?? user.sub,
    groups: user.groups,
  };
}

/** The session a token belongs to: `origin_jti`, or its own `jti` for an IdP that has no sessions. */
export const sessionOf = (user: VerifiedUser): string | undefined => user.originJti ?? user.jti;

/** What the denylist checks; `email`: the token's, or the one userInfo gave (the person of the request: http/identity.ts). */
export function identityOf(user: VerifiedUser, email = user.email): TokenIdentity {
  const known = identityByUser.get(user);
  if (known !== undefined && known.email === (email || undefined)) return known;
  const session = sessionOf(user);
  const identity = { sub: user.sub, username: user.username, ...(email ? { email } : {}), ...(session ? { origin_jti: session } : {}) };
  identityByUser.set(user, identity);
  return identity;
}
