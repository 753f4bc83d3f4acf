/**
 * Who may use the admin API: a person whose verified access token puts them in one of the
 * tenant's admin groups (a signed-in admin needs nothing else), or automation holding the admin
 * key (`--admin-key-file`), compared in constant time. Never anonymous: no credential is 401,
 * a valid token outside the admin groups is 403.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { extractToken, type VerifiedUser } from "../auth/verify.ts";
import { activeUser } from "../http/active-user.ts";
import { GatewayRefusal } from "../http/errors.ts";
import type { ProxyContext, TenantRuntime } from "../http/context.ts";

export type AdminCaller = { kind: "user"; user: VerifiedUser; name: string } | { kind: "key"; name: "admin-key" };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const digest = (s: string) => createHash("sha256").update(s).digest();

export function sameKey(given: string, expected: string): boolean {
  // equal-length digests, so neither the length nor the content leaks through timing
  return timingSafeEqual(digest(given), digest(expected));
}

export async function authorizeAdmin(ctx: ProxyContext, runtime: TenantRuntime, request: Request, started: number, base: string, route: string): Promise<AdminCaller | Response> {
  const token = extractToken(request.headers);
  const slug = runtime.config.slug;
  if (token && !JWT_SHAPE.test(token)) {
    if (ctx.adminKey !== undefined && sameKey(token, ctx.adminKey)) return { kind: "key", name: "admin-key" };
    return ctx.rejected(request, started, slug, route, new GatewayRefusal("bad_admin_key", "the admin API needs an admin's access token ('agent-runner-auth token') or the admin key"));
  }
  const active = await activeUser(ctx, runtime, request, started, base, route);
  if (active instanceof Response) return active;
  const { user } = active;
  if (!runtime.adminGroups.some((g) => user.groups.includes(g))) {
    const groups = runtime.adminGroups.length > 0 ? `one of the admin groups (${runtime.adminGroups.join(", ")})` : "an admin group, and this tenant has none configured (--admin-group)";
    return ctx.rejected(request, started, slug, route, new GatewayRefusal("not_admin", `the admin API is for members of ${groups}`));
  }
  return { kind: "user", user, name: user.email ?? user.username };
}
