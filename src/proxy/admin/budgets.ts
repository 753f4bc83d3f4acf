/** Budgets: list (GET), set (PUT or POST: one of usd or tokens, per day or month, soft or hard), clear (DELETE). */
import { budgetJson, jsonAnswer, subjectJson } from "../http/answers.ts";
import { BadInput } from "../http/errors.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { Budget } from "../model/budgets.ts";
import type { BudgetJson, ClearedJson, MatchedJson } from "../../shared/gateway-api.ts";
import { periodFrom, queryFields, readJson, settingSubjectFrom, subjectFrom, userKindFrom } from "./input.ts";
import { matchedJson, settingIds } from "./people.ts";
import { recordChange, targetOf } from "./audit.ts";
import { subjectKey } from "../model/subjects.ts";

/** The subject's budgets now (those of `period`, of one unit or both), as the audit's old value. */
async function budgetsOf(ex: TenantExchange, subjects: Budget["subject"][], period: Budget["period"], unit?: Budget["unit"]) {
  const keys = new Set(subjects.map(subjectKey));
  return (await ex.ctx.state.listBudgets(ex.runtime.config.slug)).filter((b) => keys.has(subjectKey(b.subject)) && b.period === period && (unit === undefined || b.unit === unit)).map(budgetJson);
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
  const [old] = await budgetsOf(ex, [subject], budget.period, budget.unit);
  await ex.ctx.state.setBudget(budget);
  await recordChange(ex, { action: "budget.set", target: targetOf(subject), old: old ?? null, new: budgetJson(budget) });
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
  if (subject.kind !== "user") {
    const old = await budgetsOf(ex, [subject], period, unit);
    const cleared = await ex.ctx.state.clearBudget(tenant, subject, period, unit);
    if (cleared > 0) await recordChange(ex, { action: "budget.clear", target: targetOf(subject), old, new: null });
    return jsonAnswer({ cleared } satisfies ClearedJson);
  }
  const kind = userKindFrom(field);
  const { ids, people } = await settingIds(ex.ctx, tenant, { value: subject.id, ...(kind ? { kind } : {}) });
  const old = await budgetsOf(ex, ids.map((id) => ({ kind: "user", id })), period, unit);
  let cleared = 0;
  for (const id of ids) cleared += await ex.ctx.state.clearBudget(tenant, { kind: "user", id }, period, unit);
  if (cleared > 0) await recordChange(ex, { action: "budget.clear", target: targetOf(subject), old, new: null });
  return jsonAnswer({ cleared, ...matchedJson(subject.id, kind, people) } satisfies ClearedJson);
}
