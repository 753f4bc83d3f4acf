/** A request's bearer token (extractToken), verified or taken from the verified-token cache, against the tenant's policy. */
import type { IssuerKeys } from "./jwks.ts";
import { type AccessPolicy, type VerifiedTokenCache, verifyAccessToken, type VerifiedUser } from "./verify.ts";

export interface TenantAuth {
  keys: IssuerKeys;
  policy: AccessPolicy;
  verified: VerifiedTokenCache;
}

/**
 * Throws (or rejects with) TokenRejected. A token verified before is answered at once, without a
 * promise: the request path awaits only a real verification (once per token).
 */
export function verifiedUser(auth: TenantAuth, token: string | null): VerifiedUser | Promise<VerifiedUser> {
  const cached = token ? auth.verified.get(token) : undefined;
  if (cached) return cached;
  return verifyAndKeep(auth, token);
}

async function verifyAndKeep(auth: TenantAuth, token: string | null): Promise<VerifiedUser> {
  const user = await verifyAccessToken(token, auth.policy, auth.keys);
  auth.verified.set(token as string, user);
  return user;
}
