/**
 * The console's questions, answered from the roll-ups alone: each reads the periods that cover
 * its range (months whole, days at the ends) at one level, so its cost is days x rows shown and
 * never depends on the number of requests. Sorting, searching and paging happen here, over at
 * most one row per person, group or model.
 */
import {
  addFigures, type Burn, cacheShare, type DailySeries, type DayRange, type Figures, type GroupRow, type IsoDay, type ModelRow, type Overview, type PersonRow, type PersonSummary, type SortColumn,
  type SortDir, type TablePage, type TableQuery, totalTokens, zeroFigures,
} from "../../shared/console-api.ts";
import { coverRange, daysOf, lastDayOfMonth, monthOf, previousMonth } from "./periods.ts";
import type { PersonEntry, RollupRow, SeriesRow, UsageRollups } from "./types.ts";

/** A budget as the console weighs it against the roll-ups (a stored or a policy budget). */
export interface BudgetSetting {
  subject: { kind: "user" | "group" | "tenant"; id: string };
  period: "day" | "month";
  unit: "usd" | "tokens";
  /** Micro-dollars or tokens. */
  limit: number;
  soft: boolean;
}

/** Use in the current day and month per person, group and for the tenant: what budgets burn. */
export interface CurrentUse {
  day: IsoDay;
  month: string;
  people: { day: Map<string, Figures>; month: Map<string, Figures> };
  groups: { day: Map<string, Figures>; month: Map<string, Figures> };
  tenant: { day: Figures; month: Figures };
}

const sumAll = (rows: readonly { figures: Figures }[]) => rows.reduce((acc, r) => addFigures(acc, r.figures), zeroFigures());

/** Rows of (id, model) summed per id. */
function byId(rows: readonly RollupRow[]): Map<string, Figures> {
  const out = new Map<string, Figures>();
  for (const r of rows) {
    const f = out.get(r.id);
    if (f) addFigures(f, r.figures);
    else out.set(r.id, addFigures(zeroFigures(), r.figures));
  }
  return out;
}

function byModel(rows: readonly RollupRow[]): Map<string, Figures> {
  const out = new Map<string, Figures>();
  for (const r of rows) {
    const f = out.get(r.model);
    if (f) addFigures(f, r.figures);
    else out.set(r.model, addFigures(zeroFigures(), r.figures));
  }
  return out;
}

/** The people a user budget's id (sub, username or email, any case) names. */
export function subsNamed(id: string, directory: readonly PersonEntry[]): string[] {
  const v = id.toLowerCase();
  return directory.filter((p) => p.sub.toLowerCase() === v || p.username?.toLowerCase() === v || p.email?.toLowerCase() === v).map((p) => p.sub);
}

export function burnOf(budget: BudgetSetting, use: Figures): Burn {
  const used = budget.unit === "usd" ? use.cost_micro_usd : totalTokens(use);
  return { period: budget.period, unit: budget.unit, limit: budget.limit, used, fraction: budget.limit > 0 ? used / budget.limit : used > 0 ? Infinity : 0, soft: budget.soft };
}

/** The figures a budget is measured on now (settled use; a user named by several ids counts once per person). */
export function useOf(budget: BudgetSetting, current: CurrentUse, directory: readonly PersonEntry[]): Figures {
  const scope = budget.period === "day" ? "day" : "month";
  if (budget.subject.kind === "tenant") return current.tenant[scope];
  if (budget.subject.kind === "group") return current.groups[scope].get(budget.subject.id) ?? zeroFigures();
  const subs = subsNamed(budget.subject.id, directory);
  return subs.reduce((acc, sub) => addFigures(acc, current.people[scope].get(sub) ?? zeroFigures()), zeroFigures());
}

/** The burn furthest along among budgets (null when there are none). */
function furthest(burns: Burn[]): Burn | null {
  return burns.reduce<Burn | null>((best, b) => (best === null || b.fraction > best.fraction ? b : best), null);
}

const summaryOf = (p: PersonEntry | undefined, sub: string): PersonSummary => ({
  sub,
  ...(p?.username ? { username: p.username } : {}),
  ...(p?.email ? { email: p.email } : {}),
  name: p?.name ?? sub,
  groups: p?.groups ?? [],
});

function sortValue(column: SortColumn, row: Figures & { budget?: Burn | null }): number {
  switch (column) {
    case "cache_write_tokens":
      return row.cache_write_5m_tokens + row.cache_write_1h_tokens;
    case "burn":
      return row.budget ? row.budget.fraction : -1;
    case "name":
      return 0;
    default:
      return row[column];
  }
}

/** Sorts, pages and totals rows; ties (and the name column) by name. */
function page<Row extends Figures & { budget?: Burn | null }>(rows: Row[], nameOf: (r: Row) => string, query: Pick<TableQuery, "range" | "sort" | "dir" | "offset" | "limit">): TablePage<Row> {
  const sign = query.dir === "asc" ? 1 : -1;
  const byName = (a: Row, b: Row) => nameOf(a).localeCompare(nameOf(b));
  rows.sort((a, b) => (query.sort === "name" ? sign * byName(a, b) : sign * (sortValue(query.sort, a) - sortValue(query.sort, b)) || byName(a, b)));
  return { range: query.range, total: rows.length, offset: query.offset, limit: query.limit, sort: query.sort, dir: query.dir as SortDir, rows: rows.slice(query.offset, query.offset + query.limit), totals: sumAll(rows.map((figures) => ({ figures }))) };
}

const matches = (q: string, ...fields: (string | undefined)[]) => q === "" || fields.some((f) => f !== undefined && f.toLowerCase().includes(q));

/** A stacked series over every day of the range; models ordered by cost over the range, largest first. */
export function dailySeries(range: DayRange, rows: readonly SeriesRow[]): DailySeries {
  const days = daysOf(range);
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const costByModel = new Map<string, number[]>();
  const totalByModel = new Map<string, number>();
  const pricedByModel = new Map<string, number>();
  const requests = days.map(() => 0);
  for (const r of rows) {
    const i = dayIndex.get(r.period);
    if (i === undefined) continue;
    let costs = costByModel.get(r.model);
    if (!costs) costByModel.set(r.model, (costs = days.map(() => 0)));
    costs[i] = (costs[i] as number) + r.figures.cost_micro_usd;
    totalByModel.set(r.model, (totalByModel.get(r.model) ?? 0) + r.figures.cost_micro_usd);
    requests[i] = (requests[i] as number) + r.figures.requests;
    pricedByModel.set(r.model, (pricedByModel.get(r.model) ?? 0) + r.figures.requests - r.figures.unpriced_requests);
  }
  const models = [...costByModel.keys()].sort((a, b) => (totalByModel.get(b) ?? 0) - (totalByModel.get(a) ?? 0) || a.localeCompare(b));
  return { days, models, cost_micro_usd: models.map((m) => costByModel.get(m) as number[]), requests, unpriced: models.map((m) => pricedByModel.get(m) === 0) };
}

export class RollupQueries {
  constructor(private readonly rollups: UsageRollups) {}

  directory(tenant: string): Promise<PersonEntry[]> {
    return this.rollups.people(tenant);
  }

  /** Five reads of one or two periods each. */
  async currentUse(tenant: string, today: IsoDay): Promise<CurrentUse> {
    const month = monthOf(today);
    const [pd, pm, gd, gm, md, mm] = await Promise.all([
      this.rollups.sum(tenant, "person", [today]),
      this.rollups.sum(tenant, "person", [month]),
      this.rollups.sum(tenant, "group_model", [today]),
      this.rollups.sum(tenant, "group_model", [month]),
      this.rollups.sum(tenant, "model", [today]),
      this.rollups.sum(tenant, "model", [month]),
    ]);
    return { day: today, month, people: { day: byId(pd), month: byId(pm) }, groups: { day: byId(gd), month: byId(gm) }, tenant: { day: sumAll(md), month: sumAll(mm) } };
  }

  /** `current`: the caller's reading of the current periods, when it has one (the overview shares one). */
  async peopleTable(tenant: string, query: Pick<TableQuery, "range" | "q" | "sort" | "dir" | "offset" | "limit">, budgets: readonly BudgetSetting[] = [], today?: IsoDay, currentRead?: Promise<CurrentUse>): Promise<TablePage<PersonRow>> {
    const userBudgets = budgets.filter((b) => b.subject.kind === "user");
    const [sums, directory, current] = await Promise.all([
      this.rollups.sum(tenant, "person", coverRange(query.range)),
      this.rollups.people(tenant),
      userBudgets.length && today ? (currentRead ?? this.currentUse(tenant, today)) : undefined,
    ]);
    const bySub = new Map(directory.map((p) => [p.sub, p]));
    // each user budget resolved to the people it names once, not once per row
    const budgetsOf = new Map<string, BudgetSetting[]>();
    if (current) for (const b of userBudgets) for (const sub of subsNamed(b.subject.id, directory)) budgetsOf.set(sub, [...(budgetsOf.get(sub) ?? []), b]);
    const q = query.q.toLowerCase();
    const rows: PersonRow[] = [];
    for (const [sub, figures] of byId(sums)) {
      const p = bySub.get(sub);
      if (!matches(q, sub, p?.name, p?.username, p?.email, ...(p?.groups ?? []))) continue;
      const own = current ? (budgetsOf.get(sub) ?? []).map((b) => burnOf(b, (b.period === "day" ? current.people.day : current.people.month).get(sub) ?? zeroFigures())) : [];
      rows.push({ ...summaryOf(p, sub), ...figures, budget: furthest(own) });
    }
    return page(rows, (r) => r.name, query);
  }

  async groupsTable(tenant: string, query: Pick<TableQuery, "range" | "q" | "sort" | "dir" | "offset" | "limit">, budgets: readonly BudgetSetting[] = [], today?: IsoDay, currentRead?: Promise<CurrentUse>): Promise<TablePage<GroupRow>> {
    const groupBudgets = budgets.filter((b) => b.subject.kind === "group");
    const [sums, current] = await Promise.all([this.rollups.sum(tenant, "group_model", coverRange(query.range)), groupBudgets.length && today ? (currentRead ?? this.currentUse(tenant, today)) : undefined]);
    const q = query.q.toLowerCase();
    const rows: GroupRow[] = [];
    for (const [group, figures] of byId(sums)) {
      if (!matches(q, group)) continue;
      const own = current ? groupBudgets.filter((b) => b.subject.id === group).map((b) => burnOf(b, (b.period === "day" ? current.groups.day : current.groups.month).get(group) ?? zeroFigures())) : [];
      rows.push({ group, ...figures, budget: furthest(own) });
    }
    return page(rows, (r) => r.group, query);
  }

  async modelsTable(tenant: string, query: Pick<TableQuery, "range" | "q" | "sort" | "dir" | "offset" | "limit">): Promise<TablePage<ModelRow>> {
    const sums = await this.rollups.sum(tenant, "model", coverRange(query.range));
    const q = query.q.toLowerCase();
    const rows: ModelRow[] = [];
    for (const [model, figures] of byModel(sums)) if (matches(q, model)) rows.push({ model, ...figures });
    return page(rows, (r) => r.model, query.sort === "burn" ? { ...query, sort: "cost_micro_usd" } : query);
  }

  async overview(tenant: string, range: DayRange, today: IsoDay, budgets: readonly BudgetSetting[] = [], top = 5): Promise<Overview> {
    const month = monthOf(today);
    const last = previousMonth(month);
    const sameDay = `${last}-${today.slice(8)}` <= lastDayOfMonth(last) ? `${last}-${today.slice(8)}` : lastDayOfMonth(last);
    const topQuery = { range, q: "", sort: "cost_micro_usd" as const, dir: "desc" as const, offset: 0, limit: top };
    // one reading of the current periods for both tables' budget burn
    const current = budgets.some((b) => b.subject.kind !== "tenant") ? this.currentUse(tenant, today) : undefined;
    const [daily, todayRows, monthRows, lastRows, lastToDate, people, groups] = await Promise.all([
      this.rollups.series(tenant, "model", daysOf(range)),
      this.rollups.sum(tenant, "model", [today]),
      this.rollups.sum(tenant, "model", [month]),
      this.rollups.sum(tenant, "model", [last]),
      this.rollups.sum(tenant, "model", coverRange({ from: `${last}-01`, to: sameDay })),
      this.peopleTable(tenant, topQuery, budgets, today, current),
      this.groupsTable(tenant, topQuery, budgets, today, current),
    ]);
    const totals = sumAll(daily);
    const models = [...byModel(daily)].map(([model, figures]): ModelRow => ({ model, ...figures })).sort((a, b) => b.cost_micro_usd - a.cost_micro_usd || a.model.localeCompare(b.model));
    return {
      range,
      today: { day: today, figures: sumAll(todayRows) },
      month: { month, figures: sumAll(monthRows) },
      last_month: { month: last, figures: sumAll(lastRows), to_date: sumAll(lastToDate) },
      range_totals: totals,
      cache_share: cacheShare(totals),
      daily: dailySeries(range, daily),
      top_people: people.rows,
      top_groups: groups.rows,
      top_models: models.slice(0, top),
    };
  }

  /** A person over the range: totals, per model, per day. */
  async person(tenant: string, sub: string, range: DayRange): Promise<{ person: PersonSummary; totals: Figures; by_model: ModelRow[]; daily: DailySeries } | undefined> {
    const [rows, directory] = await Promise.all([this.rollups.series(tenant, "person_model", daysOf(range), sub), this.rollups.people(tenant)]);
    const entry = directory.find((p) => p.sub === sub);
    if (!entry && rows.length === 0) return undefined;
    const by_model = [...byModel(rows)].map(([model, figures]): ModelRow => ({ model, ...figures })).sort((a, b) => b.cost_micro_usd - a.cost_micro_usd || a.model.localeCompare(b.model));
    return { person: summaryOf(entry, sub), totals: sumAll(rows), by_model, daily: dailySeries(range, rows) };
  }
}
