/** Rate limits: list (GET), set (PUT or POST: rpm, tpm or both), clear (DELETE). */
import { jsonAnswer, limitJson } from "../http/answers.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import type { ClearedJson, LimitJson, MatchedJson } from "../../shared/gateway-api.ts";
import { queryFields, readJson, settingSubjectFrom, subjectFrom, userKindFrom } from "./input.ts";
import { matchedJson, settingIds } from "./people.ts";
import { recordChange, targetOf } from "./audit.ts";
import { subjectKey } from "../model/subjects.ts";

/** The subjects' limits now, as the audit's old value. */
async function limitsOf(ex: TenantExchange, subjects: RateLimit["subject"][]) {
  const keys = new Set(subjects.map(subjectKey));
  return (await ex.ctx.state.listLimits(ex.runtime.config.slug)).filter((l) => keys.has(subjectKey(l.subject))).map(limitJson);
}

export async function listLimits(ex: TenantExchange): Promise<Response> {
  return jsonAnswer((await ex.ctx.state.listLimits(ex.runtime.config.slug)).map(limitJson));
}

export async function setLimit(ex: TenantExchange): Promise<Response> {
  const body = await readJson(ex.request);
  const field = (k: string) => body[k];
  const { subject, people } = await settingSubjectFrom(ex, field);
  const limit: RateLimit = { tenant: ex.runtime.config.slug, subject, ...(body.rpm !== undefined ? { rpm: body.rpm as number } : {}), ...(body.tpm !== undefined ? { tpm: body.tpm as number } : {}) };
  const [old] = await limitsOf(ex, [subject]);
  await ex.ctx.state.setLimit(limit);
  await recordChange(ex, { action: "limit.set", target: targetOf(subject), old: old ?? null, new: limitJson(limit) });
  return jsonAnswer({ ...limitJson(limit), ...matchedJson(String(body.user), userKindFrom(field), people) } satisfies LimitJson & MatchedJson);
}

export async function clearLimit(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  const tenant = ex.runtime.config.slug;
  const field = queryFields(query);
  const subject = subjectFrom(field);
  if (subject.kind !== "user") {
    const old = await limitsOf(ex, [subject]);
    const cleared = (await ex.ctx.state.clearLimit(tenant, subject)) ? 1 : 0;
    if (cleared > 0) await recordChange(ex, { action: "limit.clear", target: targetOf(subject), old, new: null });
    return jsonAnswer({ cleared } satisfies ClearedJson);
  }
  const kind = userKindFrom(field);
  const { ids, people } = await settingIds(ex.ctx, tenant, { value: subject.id, ...(kind ? { kind } : {}) });
  const old = await limitsOf(ex, ids.map((id) => ({ kind: "user", id })));
  let cleared = 0;
  for (const id of ids) if (await ex.ctx.state.clearLimit(tenant, { kind: "user", id })) cleared++;
  if (cleared > 0) await recordChange(ex, { action: "limit.clear", target: targetOf(subject), old, new: null });
  return jsonAnswer({ cleared, ...matchedJson(subject.id, kind, people) } satisfies ClearedJson);
}
