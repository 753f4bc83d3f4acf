/** GET me/usage: the caller's use today and this month, and every budget that applies to them (the tenant policy's too) with what is left. */
import { budgetStatusJson, jsonAnswer, usageFigures } from "../http/answers.ts";
import type { TenantExchange } from "../http/exchange.ts";
import { dayKey, monthKey } from "../model/periods.ts";
import type { Person } from "../model/person.ts";
import { rulesFor } from "../policy/request-rules.ts";
import type { MyUsageJson } from "../../shared/gateway-api.ts";

export async function myUsage(ex: TenantExchange): Promise<Response> {
  const { state } = ex.ctx;
  const person = ex.person as Person;
  const tenant = ex.runtime.config.slug;
  const now = Date.now();
  const today = dayKey(now);
  const month = monthKey(now);
  const policyBudgets = ex.runtime.accessPolicy ? rulesFor(ex.runtime.accessPolicy, person).budgets : [];
  const [day, monthRows, budgets] = await Promise.all([
    state.usageReport({ tenant, since: today, until: today, by: "user", sub: person.sub }),
    state.usageReport({ tenant, since: `${month}-01`, until: today, by: "user", sub: person.sub }),
    state.budgetStatus(person, now, policyBudgets),
  ]);
  return jsonAnswer({ user: person.displayName, sub: person.sub, groups: person.groups, today: { day: today, ...usageFigures(day[0]) }, month: { month, ...usageFigures(monthRows[0]) }, budgets: budgets.map(budgetStatusJson) } satisfies MyUsageJson);
}
