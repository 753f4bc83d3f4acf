/** Rate limits: list (GET), set (PUT or POST: rpm, tpm or both), clear (DELETE). */
import { jsonAnswer, limitJson } from "../http/answers.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import type { ClearedJson, LimitJson, MatchedJson } from "../../shared/gateway-api.ts";
import { queryFields, readJson, settingSubjectFrom, subjectFrom, userKindFrom } from "./input.ts";
import { matchedJson, settingIds } from "./people.ts";
import { actorOf, type Acting, targetOf } from "./audit.ts";
import { subjectKey } from "../model/subjects.ts";
import type { ProxyContext } from "../http/context.ts";

/** The subjects' limits now, as the audit's old value. */
async function limitsOf(ctx: ProxyContext, tenant: string, subjects: RateLimit["subject"][]) {
  const keys = new Set(subjects.map(subjectKey));
  return (await ctx.state.listLimits(tenant)).filter((l) => keys.has(subjectKey(l.subject))).map(limitJson);
}

/** Sets a rate limit and audits it: the admin API's and the console's one way. */
export async function putLimit(ctx: ProxyContext, limit: RateLimit, who: Acting): Promise<void> {
  const [old] = await limitsOf(ctx, limit.tenant, [limit.subject]);
  await ctx.state.setLimit(limit);
  await ctx.audit.record({ tenant: limit.tenant, ...who, action: "limit.set", target: targetOf(limit.subject), old: old ?? null, new: limitJson(limit) });
}

/** Clears the limits of `subjects` (the stored ids `target` names) and audits it when any was cleared. */
export async function removeLimits(ctx: ProxyContext, tenant: string, target: RateLimit["subject"], subjects: RateLimit["subject"][], who: Acting): Promise<number> {
  const old = await limitsOf(ctx, tenant, subjects);
  let cleared = 0;
  for (const subject of subjects) if (await ctx.state.clearLimit(tenant, subject)) cleared++;
  if (cleared > 0) await ctx.audit.record({ tenant, ...who, action: "limit.clear", target: targetOf(target), old, new: null });
  return cleared;
}

export async function listLimits(ex: TenantExchange): Promise<Response> {
  return jsonAnswer((await ex.ctx.state.listLimits(ex.runtime.config.slug)).map(limitJson));
}

export async function setLimit(ex: TenantExchange): Promise<Response> {
  const body = await readJson(ex.request);
  const field = (k: string) => body[k];
  const { subject, people } = await settingSubjectFrom(ex, field);
  const limit: RateLimit = { tenant: ex.runtime.config.slug, subject, ...(body.rpm !== undefined ? { rpm: body.rpm as number } : {}), ...(body.tpm !== undefined ? { tpm: body.tpm as number } : {}) };
  await putLimit(ex.ctx, limit, actorOf(ex));
  return jsonAnswer({ ...limitJson(limit), ...matchedJson(String(body.user), userKindFrom(field), people) } satisfies LimitJson & MatchedJson);
}

export async function clearLimit(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  const tenant = ex.runtime.config.slug;
  const field = queryFields(query);
  const subject = subjectFrom(field);
  if (subject.kind !== "user") return jsonAnswer({ cleared: await removeLimits(ex.ctx, tenant, subject, [subject], actorOf(ex)) } satisfies ClearedJson);
  const kind = userKindFrom(field);
  const { ids, people } = await settingIds(ex.ctx, tenant, { value: subject.id, ...(kind ? { kind } : {}) });
  const cleared = await removeLimits(ex.ctx, tenant, subject, ids.map((id) => ({ kind: "user", id })), actorOf(ex));
  return jsonAnswer({ cleared, ...matchedJson(subject.id, kind, people) } satisfies ClearedJson);
}
