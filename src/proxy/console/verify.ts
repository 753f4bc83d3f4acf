/**
 * The console's check of an access token: the gateway's own rules (verifyAccessToken: RS256 from
 * the pool's JWKS, issuer, expiry, token_use, the console's app client), then the denylist (a
 * person an admin revoked, a session signed out), exactly as every other gateway endpoint does.
 */
import { identityOf } from "../auth/person.ts";
import type { IssuerKeys } from "../auth/jwks.ts";
import { TokenRejected, verifyAccessToken } from "../auth/verify.ts";
import type { Revocation } from "../model/revocations.ts";
import type { TokenIdentity } from "../model/person.ts";
import type { ConsoleUser } from "./server.ts";

export interface ConsoleVerifierOptions {
  tenant: string;
  issuer: string;
  keys: IssuerKeys;
  /** The console's app client: its tokens only (the CLI's tokens are not a console sign-in). */
  clientId: string;
  /** The gateway's denylist check (auth/denylist.ts). */
  denylist: { revoked(tenant: string, identity: TokenIdentity): Promise<Revocation | null> };
}

export function consoleVerifier(o: ConsoleVerifierOptions): (token: string) => Promise<ConsoleUser> {
  const policy = { issuer: o.issuer, clientIds: new Set([o.clientId]), requiredGroups: [] };
  return async (token) => {
    const user = await verifyAccessToken(token, policy, o.keys);
    const revoked = await o.denylist.revoked(o.tenant, identityOf(user));
    if (revoked) throw new TokenRejected(revoked.kind === "origin_jti" ? "session_revoked" : "person_revoked", revoked.kind === "origin_jti" ? "this sign-in was ended" : "an administrator withdrew your access");
    return { sub: user.sub, username: user.username, ...(user.email ? { email: user.email } : {}), groups: user.groups };
  };
}
