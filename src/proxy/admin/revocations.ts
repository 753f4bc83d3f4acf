/**
 * Revocations: list (GET), revoke a person or a session (POST or PUT), restore (DELETE). The use
 * cases (a change and its audit row) are the admin API's and the console's one way.
 */
import { jsonAnswer } from "../http/answers.ts";
import type { ProxyContext } from "../http/context.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { Revocation } from "../model/revocations.ts";
import type { RestoreJson, RevokeJson, Revocation as RevocationJson } from "../../shared/gateway-api.ts";
import { queryFields, readJson, revocationTarget } from "./input.ts";
import { restoreSession, restoreUser, revocationJson, revokeUser, type UserTarget } from "./people.ts";
import { type Acting, actorOf } from "./audit.ts";

/** `by` on the revocation: the admin's e-mail or username (the admin API's caller). */
export async function revokePerson(ctx: ProxyContext, tenant: string, target: UserTarget, by: string, who: Acting, reason: string | undefined): Promise<RevokeJson> {
  const answer = await revokeUser(ctx, tenant, target, by, reason);
  await ctx.audit.record({ tenant, ...who, action: "revoke", target: `user ${target.value}`, old: null, new: answer.revocations ?? [] });
  return answer;
}

/** Ends one session (an `origin_jti`) until its tokens expire. */
export async function revokeSession(ctx: ProxyContext, tenant: string, session: string, by: string, who: Acting, reason: string | undefined): Promise<RevocationJson> {
  const now = Date.now();
  const revocation: Revocation = { tenant, kind: "origin_jti", value: session, at: now, until: now + ctx.revocationTtlMs, by, ...(reason !== undefined ? { reason } : {}) };
  await ctx.state.revoke(revocation);
  ctx.denylist.forget();
  await ctx.audit.record({ tenant, ...who, action: "revoke", target: `session ${session}`, old: null, new: [revocationJson(revocation)] });
  return revocationJson(revocation);
}

/** Lifts a person's revocations (every identifier) or one session's; audited when anything was lifted. */
export async function restoreRevoked(ctx: ProxyContext, tenant: string, target: { user: UserTarget } | { session: string }, who: Acting): Promise<RestoreJson> {
  const answer = "user" in target ? await restoreUser(ctx, tenant, target.user) : await restoreSession(ctx, tenant, target.session);
  if (answer.restored) await ctx.audit.record({ tenant, ...who, action: "restore", target: "user" in target ? `user ${target.user.value}` : `session ${target.session}`, old: answer.lifted ?? [], new: null });
  return answer;
}

export async function listRevocations(ex: TenantExchange): Promise<Response> {
  return jsonAnswer((await ex.ctx.state.listRevocations(ex.runtime.config.slug)).map(revocationJson));
}

export async function revoke(ex: TenantExchange): Promise<Response> {
  const tenant = ex.runtime.config.slug;
  const by = ex.caller as string;
  const body = await readJson(ex.request);
  const target = revocationTarget((k) => body[k]);
  const reason = typeof body.reason === "string" ? body.reason.slice(0, 500) : undefined;
  if ("user" in target) return jsonAnswer(await revokePerson(ex.ctx, tenant, target.user, by, actorOf(ex), reason));
  return jsonAnswer(await revokeSession(ex.ctx, tenant, target.session, by, actorOf(ex), reason));
}

export async function restore(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  return jsonAnswer(await restoreRevoked(ex.ctx, ex.runtime.config.slug, revocationTarget(queryFields(query)), actorOf(ex)));
}
