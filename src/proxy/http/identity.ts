/**
 * The first two steps of every authenticated endpoint (the API, the admin API, logout, my usage):
 * `authenticate` (the bearer token verified against the tenant's policy: the person it speaks
 * for, on the exchange) and `checkRevocation` (the denylist: an offboarded person, a signed-out
 * session). Each answers undefined to go on, or the refusal it sent (401; 403 for a missing group).
 * Every verified person is remembered as seen (auth/people-seen.ts), revoked or not, so admins'
 * `--user` values resolve to who they really are.
 */
import { verifiedUser } from "../auth/authenticate.ts";
import { identityOf, personOf, sessionOf } from "../auth/person.ts";
import { extractToken, TokenRejected } from "../auth/verify.ts";
import type { TenantExchange } from "./exchange.ts";

/** What a refused person reads: an administrator's revocation is not cured by signing in again; a signed-out session is. */
export const PERSON_REVOKED_MESSAGE = "an administrator of this tenant withdrew your access to the gateway; signing in again will not help: ask your administrator";
export const SESSION_REVOKED_MESSAGE = "this sign-in was ended (signed out); sign in again with 'agent-runner-auth login'";

/** `token`: the request's (extractToken), when the caller has it already. */
export async function authenticate(ex: TenantExchange, token = extractToken(ex.request.headers)): Promise<Response | undefined> {
  const { ctx, runtime } = ex;
  ex.token = token;
  try {
    const user = verifiedUser(runtime, token);
    ex.user = user instanceof Promise ? await user : user;
  } catch (e) {
    if (!(e instanceof TokenRejected)) throw e;
    return ex.unauthorized(e);
  }
  // the e-mail userInfo gave, from its cache (looked up in the background, never awaited)
  ex.person = personOf(runtime.config.slug, ex.user, ctx.emails?.emailFor(runtime.config.issuer, ex.user, token));
  ctx.people.saw(ex.person);
  return undefined;
}

/** After authenticate. A session still allowed is noted for the directory's re-checks (offboarding). */
export async function checkRevocation(ex: TenantExchange): Promise<Response | undefined> {
  const user = ex.user as NonNullable<TenantExchange["user"]>;
  // the e-mail userInfo gave counts too: a revocation by e-mail reaches pools whose tokens carry none
  const identity = identityOf(user, ex.person?.email);
  const kept = ex.ctx.denylist.kept(ex.runtime.config.slug, identity);
  const revoked = kept !== undefined ? kept : await ex.ctx.denylist.revoked(ex.runtime.config.slug, identity);
  if (!revoked) {
    noteSession(ex, user);
    return undefined;
  }
  return ex.unauthorized(revoked.kind === "origin_jti" ? new TokenRejected("session_revoked", SESSION_REVOKED_MESSAGE) : new TokenRejected("person_revoked", PERSON_REVOKED_MESSAGE));
}

/** Both steps: a signed-in person still allowed, or the refusal sent. */
export async function activeUser(ex: TenantExchange, token?: string | null): Promise<Response | undefined> {
  return (await authenticate(ex, token)) ?? (await checkRevocation(ex));
}

/**
 * Tells the tenant's revalidator of this session and its latest token (a map update: the check
 * itself runs in the background, never on the request path; the request that finds it due is
 * served, later ones are refused once the issuer's 401 is in the denylist).
 */
function noteSession(ex: TenantExchange, user: NonNullable<TenantExchange["user"]>): void {
  const revalidator = ex.runtime.revalidator;
  if (!revalidator) return;
  const sessionId = sessionOf(user);
  const token = sessionId ? ex.token : null;
  if (!sessionId || !token) return;
  const { config } = ex.runtime;
  revalidator.seen({ tenant: config.slug, issuer: config.issuer, sub: user.sub, sessionId, accessToken: token, expiresAt: user.exp * 1000, displayName: ex.person?.displayName ?? user.username });
}
