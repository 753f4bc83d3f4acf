/**
 * The first two steps of every authenticated endpoint (the API, the admin API, logout, my usage):
 * the bearer token verified against the tenant's policy, then the denylist (an offboarded person,
 * a signed-out session). Either the verified user, or the 401 to send.
 */
import { authenticate } from "../auth/authenticate.ts";
import { identityOf } from "../auth/person.ts";
import { TokenRejected, type VerifiedUser } from "../auth/verify.ts";
import type { ProxyContext, TenantRuntime } from "./context.ts";

export async function activeUser(ctx: ProxyContext, runtime: TenantRuntime, request: Request, started: number, base: string, route: string): Promise<VerifiedUser | Response> {
  let user: VerifiedUser;
  try {
    user = await authenticate(runtime, request.headers);
  } catch (e) {
    if (!(e instanceof TokenRejected)) throw e;
    return ctx.unauthorized(request, started, runtime, base, route, e);
  }
  const revoked = await ctx.denylist.revoked(runtime.config.slug, identityOf(user));
  if (!revoked) return user;
  const what = revoked.kind === "origin_jti" ? "this session was signed out" : "access for this user was revoked by an administrator";
  return ctx.unauthorized(request, started, runtime, base, route, new TokenRejected("revoked", `${what}: sign in again with 'agent-runner-auth login' (or ask your administrator)`));
}
