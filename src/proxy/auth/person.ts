/** The person a verified token speaks for, as the state layer counts them. */
import type { Person, TokenIdentity } from "../model/person.ts";
import type { VerifiedUser } from "./verify.ts";

/** `resolvedEmail`: from userInfo (userinfo.ts) when the token has none (email-as-username pools). */
export function personOf(tenant: string, user: VerifiedUser, resolvedEmail?: string): Person {
  const email = user.email ?? resolvedEmail;
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
  const session = sessionOf(user);
  return { sub: user.sub, username: user.username, ...(email ? { email } : {}), ...(session ? { origin_jti: session } : {}) };
}
