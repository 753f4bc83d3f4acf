/** A request's bearer token (extractToken), verified or taken from the verified-token cache, against the tenant's policy. */
import type { IssuerKeys } from "./jwks.ts";
import { type AccessPolicy, type VerifiedTokenCache, verifyAccessToken, type VerifiedUser } from "./verify.ts";

export interface TenantAuth {
  keys: IssuerKeys;
  policy: AccessPolicy;
  verified: VerifiedTokenCache;
}

/** Throws TokenRejected. */
export async function verifiedUser(auth: TenantAuth, token: string | null): Promise<VerifiedUser> {
  const cached = token ? auth.verified.get(token) : undefined;
  if (cached) return cached;
  const user = await verifyAccessToken(token, auth.policy, auth.keys);
  auth.verified.set(token as string, user);
  return user;
}
