/**
 * Who may use the admin API: a person whose verified access token puts them in one of the
 * tenant's admin groups (a signed-in admin needs nothing else), or automation holding the admin
 * key (`--admin-key-file`), compared in constant time. Never anonymous: no credential is 401,
 * a valid token outside the admin groups is 403.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { extractToken } from "../auth/verify.ts";
import { GatewayRefusal } from "../http/errors.ts";
import type { TenantExchange } from "../http/exchange.ts";
import { activeUser } from "../http/identity.ts";

/** The caller's name when they hold the admin key (revocations say who made them). */
export const ADMIN_KEY_CALLER = "admin-key";

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const digest = (s: string) => createHash("sha256").update(s).digest();

export function sameKey(given: string, expected: string): boolean {
  // equal-length digests, so neither the length nor the content leaks through timing
  return timingSafeEqual(digest(given), digest(expected));
}

/** Undefined for an admin (their name in `ex.caller`), else the refusal sent. */
export async function authorizeAdmin(ex: TenantExchange): Promise<Response | undefined> {
  const token = extractToken(ex.request.headers);
  if (token && !JWT_SHAPE.test(token)) {
    if (ex.ctx.adminKey !== undefined && sameKey(token, ex.ctx.adminKey)) {
      ex.caller = ADMIN_KEY_CALLER;
      return undefined;
    }
    return ex.refuse(new GatewayRefusal("bad_admin_key", "the admin API needs an admin's access token ('agent-runner-auth token') or the admin key"));
  }
  const refused = await activeUser(ex, token);
  if (refused) return refused;
  const user = ex.user as NonNullable<TenantExchange["user"]>;
  const adminGroups = ex.runtime.adminGroups;
  if (!adminGroups.some((g) => user.groups.includes(g))) {
    const groups = adminGroups.length > 0 ? `one of the admin groups (${adminGroups.join(", ")})` : "an admin group, and this tenant has none configured (--admin-group)";
    return ex.refuse(new GatewayRefusal("not_admin", `the admin API is for members of ${groups}`));
  }
  ex.caller = user.email ?? user.username;
  return undefined;
}
