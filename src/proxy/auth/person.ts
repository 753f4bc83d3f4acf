/** The person a verified token speaks for, as the state layer counts them. */
import type { Person, TokenIdentity } from "../state/types.ts";
import type { VerifiedUser } from "./verify.ts";

export function personOf(tenant: string, user: VerifiedUser): Person {
  return {
    tenant,
    sub: user.sub,
    username: user.username,
    ...(user.email ? { email: user.email } : {}),
    // email where the token gives one, else the username (which Cognito always sets)
    displayName: user.email ?? user.username ?? user.sub,
    groups: user.groups,
  };
}

/** The session a token belongs to: `origin_jti`, or its own `jti` for an IdP that has no sessions. */
export const sessionOf = (user: VerifiedUser): string | undefined => user.originJti ?? user.jti;

export function identityOf(user: VerifiedUser): TokenIdentity {
  const session = sessionOf(user);
  return { sub: user.sub, username: user.username, ...(user.email ? { email: user.email } : {}), ...(session ? { origin_jti: session } : {}) };
}
