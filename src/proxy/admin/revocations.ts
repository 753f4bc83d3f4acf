/** Revocations: list (GET), revoke a person or a session (POST or PUT), restore (DELETE). */
import { jsonAnswer } from "../http/answers.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { Revocation } from "../model/revocations.ts";
import { queryFields, readJson, revocationTarget } from "./input.ts";
import { restoreSession, restoreUser, revocationJson, revokeUser } from "./people.ts";
import { recordChange } from "./audit.ts";

export async function listRevocations(ex: TenantExchange): Promise<Response> {
  return jsonAnswer((await ex.ctx.state.listRevocations(ex.runtime.config.slug)).map(revocationJson));
}

export async function revoke(ex: TenantExchange): Promise<Response> {
  const { ctx } = ex;
  const tenant = ex.runtime.config.slug;
  const by = ex.caller as string;
  const body = await readJson(ex.request);
  const target = revocationTarget((k) => body[k]);
  const reason = typeof body.reason === "string" ? body.reason.slice(0, 500) : undefined;
  if ("user" in target) {
    const answer = await revokeUser(ctx, tenant, target.user, by, reason);
    await recordChange(ex, { action: "revoke", target: `user ${target.user.value}`, old: null, new: answer.revocations ?? [] });
    return jsonAnswer(answer);
  }
  const now = Date.now();
  const revocation: Revocation = { tenant, kind: "origin_jti", value: target.session, at: now, until: now + ctx.revocationTtlMs, by, ...(reason !== undefined ? { reason } : {}) };
  await ctx.state.revoke(revocation);
  ctx.denylist.forget();
  await recordChange(ex, { action: "revoke", target: `session ${target.session}`, old: null, new: [revocationJson(revocation)] });
  return jsonAnswer(revocationJson(revocation));
}

export async function restore(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  const tenant = ex.runtime.config.slug;
  const target = revocationTarget(queryFields(query));
  const answer = "user" in target ? await restoreUser(ex.ctx, tenant, target.user) : await restoreSession(ex.ctx, tenant, target.session);
  if (answer.restored) await recordChange(ex, { action: "restore", target: "user" in target ? `user ${target.user.value}` : `session ${target.session}`, old: answer.lifted ?? [], new: null });
  return jsonAnswer(answer);
}
