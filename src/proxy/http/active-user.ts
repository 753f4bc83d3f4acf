/**
 * The first two steps of every authenticated endpoint (the API, the admin API, logout, my usage):
 * the bearer token verified against the tenant's policy, then the denylist (an offboarded person,
 * a signed-out session). Either the verified user and the person they are, or the 401 to send.
 * Every verified person is remembered as seen (auth/people-seen.ts), revoked or not, so admins'
 * `--user` values resolve to who they really are.
 */
import { authenticate } from "../auth/authenticate.ts";
import { identityOf, personOf } from "../auth/person.ts";
import { extractToken, TokenRejected, type VerifiedUser } from "../auth/verify.ts";
import type { Person } from "../model/person.ts";
import type { ProxyContext, TenantRuntime } from "./context.ts";

export interface Active {
  user: VerifiedUser;
  person: Person;
}

/** What a refused person reads: an administrator's revocation is not cured by signing in again; a signed-out session is. */
export const PERSON_REVOKED_MESSAGE = "an administrator of this tenant withdrew your access to the gateway; signing in again will not help: ask your administrator";
export const SESSION_REVOKED_MESSAGE = "this sign-in was ended (signed out); sign in again with 'agent-runner-auth login'";

export async function activeUser(ctx: ProxyContext, runtime: TenantRuntime, request: Request, started: number, base: string, route: string): Promise<Active | Response> {
  const token = extractToken(request.headers);
  let user: VerifiedUser;
  try {
    user = await authenticate(runtime, token);
  } catch (e) {
    if (!(e instanceof TokenRejected)) throw e;
    return ctx.unauthorized(request, started, runtime, base, route, e);
  }
  // the e-mail userInfo gave, from its cache (looked up in the background, never awaited)
  const person = personOf(runtime.config.slug, user, ctx.emails?.emailFor(runtime.config.issuer, user, token));
  ctx.people.saw(person);
  // the e-mail userInfo gave counts too: a revocation by e-mail reaches pools whose tokens carry none
  const revoked = await ctx.denylist.revoked(runtime.config.slug, identityOf(user, person.email));
  if (!revoked) return { user, person };
  const rejected = revoked.kind === "origin_jti" ? new TokenRejected("session_revoked", SESSION_REVOKED_MESSAGE) : new TokenRejected("person_revoked", PERSON_REVOKED_MESSAGE);
  return ctx.unauthorized(request, started, runtime, base, route, rejected);
}
