/** Budgets: list (GET), set (PUT or POST: one of usd or tokens, per day or month, soft or hard), clear (DELETE). */
import { budgetJson, jsonAnswer, subjectJson } from "../http/answers.ts";
import { BadInput } from "../http/errors.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { Budget } from "../model/budgets.ts";
import type { BudgetJson, ClearedJson, MatchedJson } from "../../shared/gateway-api.ts";
import { periodFrom, queryFields, readJson, settingSubjectFrom, subjectFrom, userKindFrom } from "./input.ts";
import { matchedJson, settingIds } from "./people.ts";
import { actorOf, type Acting, targetOf } from "./audit.ts";
import { subjectKey } from "../model/subjects.ts";
import type { ProxyContext } from "../http/context.ts";

/** The subject's budgets now (those of `period`, of one unit or both), as the audit's old value. */
async function budgetsOf(ctx: ProxyContext, tenant: string, subjects: Budget["subject"][], period: Budget["period"], unit?: Budget["unit"]) {
  const keys = new Set(subjects.map(subjectKey));
  return (await ctx.state.listBudgets(tenant)).filter((b) => keys.has(subjectKey(b.subject)) && b.period === period && (unit === undefined || b.unit === unit)).map(budgetJson);
}

/** Sets a budget and audits it (the old one, the new one): the admin API's and the console's one way. */
export async function putBudget(ctx: ProxyContext, budget: Budget, who: Acting): Promise<void> {
  const [old] = await budgetsOf(ctx, budget.tenant, [budget.subject], budget.period, budget.unit);
  await ctx.state.setBudget(budget);
  await ctx.audit.record({ tenant: budget.tenant, ...who, action: "budget.set", target: targetOf(budget.subject), old: old ?? null, new: budgetJson(budget) });
}

/** Clears the budgets of `subjects` (the stored ids `target` names) and audits it when any was cleared. */
export async function removeBudgets(ctx: ProxyContext, tenant: string, target: Budget["subject"], subjects: Budget["subject"][], period: Budget["period"], unit: Budget["unit"] | undefined, who: Acting): Promise<number> {
  const old = await budgetsOf(ctx, tenant, subjects, period, unit);
  let cleared = 0;
  for (const subject of subjects) cleared += await ctx.state.clearBudget(tenant, subject, period, unit);
  if (cleared > 0) await ctx.audit.record({ tenant, ...who, action: "budget.clear", target: targetOf(target), old, new: null });
  return cleared;
}

export async function listBudgets(ex: TenantExchange): Promise<Response> {
  return jsonAnswer((await ex.ctx.state.listBudgets(ex.runtime.config.slug)).map(budgetJson));
}

export async function setBudget(ex: TenantExchange): Promise<Response> {
  const tenant = ex.runtime.config.slug;
  const body = await readJson(ex.request);
  const field = (k: string) => body[k];
  const { usd, tokens } = body;
  if ((usd === undefined) === (tokens === undefined)) throw new BadInput("give exactly one of usd or tokens");
  const amount = usd ?? tokens;
  if (typeof amount !== "number" || !Number.isFinite(amount) || amount < 0) throw new BadInput("usd or tokens must be a non-negative number");
  const { subject, people } = await settingSubjectFrom(ex, field);
  const budget: Budget = { tenant, subject, period: periodFrom(body.period), unit: usd !== undefined ? "usd" : "tokens", limit: usd !== undefined ? Math.round(amount * 1e6) : Math.floor(amount), soft: body.soft === true };
  await putBudget(ex.ctx, budget, actorOf(ex));
  // the amount as given (the store keeps whole micro-dollars)
  return jsonAnswer({ ...subjectJson(budget.subject), period: budget.period, unit: budget.unit, limit: amount, soft: budget.soft, ...matchedJson(String(body.user), userKindFrom(field), people) } satisfies BudgetJson & MatchedJson);
}

export async function clearBudget(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  const tenant = ex.runtime.config.slug;
  const field = queryFields(query);
  const unit = field("unit");
  if (unit !== undefined && unit !== "usd" && unit !== "tokens") throw new BadInput("unit is usd or tokens");
  const subject = subjectFrom(field);
  const period = periodFrom(field("period"));
  if (subject.kind !== "user") return jsonAnswer({ cleared: await removeBudgets(ex.ctx, tenant, subject, [subject], period, unit, actorOf(ex)) } satisfies ClearedJson);
  const kind = userKindFrom(field);
  const { ids, people } = await settingIds(ex.ctx, tenant, { value: subject.id, ...(kind ? { kind } : {}) });
  const cleared = await removeBudgets(ex.ctx, tenant, subject, ids.map((id) => ({ kind: "user", id })), period, unit, actorOf(ex));
  return jsonAnswer({ cleared, ...matchedJson(subject.id, kind, people) } satisfies ClearedJson);
}
