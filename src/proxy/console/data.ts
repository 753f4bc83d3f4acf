/**
 * The console's data: its API's answers from the roll-ups (usage), the state store (budgets,
 * limits, revocations) and, when they exist, the policy file and the audit log. Tenant-scoped:
 * the gateway makes one per tenant. Side effects enter through the ports handed in, so the
 * console server runs in a test over fakes or over a real store.
 */
import {
  type AuditPage, type AuditQuery, type BudgetClear, type BudgetInput, budgetLimitOf, type BudgetsAndLimits, type BudgetView, type DayRange, type GroupRow, type IsoDay, type LimitInput, type LimitView,
  type ModelRow, type Overview, type PersonDetail, type PersonRow, type RestoreInput, type RevocationInput, type RevocationView, type SessionView, type SettingSource, type SubjectWire, type TablePage,
  type TableQuery,
} from "../../shared/console-api.ts";
import { type BudgetSetting, burnOf, RollupQueries, useOf } from "../rollup/queries.ts";
import type { PersonEntry, UsageRollups } from "../rollup/types.ts";
import type { GatewayState } from "../state/types.ts";
import type { Budget } from "../model/budgets.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import type { Revocation } from "../model/revocations.ts";

/** What the console answers; the server parses input and checks the session before calling it. */
export interface ConsoleData {
  overview(range: DayRange, today: IsoDay): Promise<Overview>;
  people(query: TableQuery, today: IsoDay): Promise<TablePage<PersonRow>>;
  /** undefined: nobody with that sub has been counted or seen. */
  person(sub: string, range: DayRange, today: IsoDay): Promise<PersonDetail | undefined>;
  groups(query: TableQuery, today: IsoDay): Promise<TablePage<GroupRow>>;
  models(query: TableQuery, today: IsoDay): Promise<TablePage<ModelRow>>;
  budgets(today: IsoDay): Promise<BudgetsAndLimits>;
  setBudget(input: BudgetInput, by: ConsoleActor, today: IsoDay): Promise<BudgetView>;
  clearBudget(input: BudgetClear, by: ConsoleActor): Promise<number>;
  setLimit(input: LimitInput, by: ConsoleActor): Promise<LimitView>;
  clearLimit(subject: LimitInput["subject"], by: ConsoleActor): Promise<number>;
  audit(query: AuditQuery): Promise<AuditPage>;
  revocations(): Promise<RevocationView[]>;
  revoke(input: RevocationInput, by: ConsoleActor): Promise<RevocationView[]>;
  restore(input: RestoreInput, by: ConsoleActor): Promise<boolean>;
}

/** The signed-in admin making a change: `name` (e-mail, else username) on revocations and audit rows, `sub` on audit rows. */
export interface ConsoleActor {
  name: string;
  sub: string;
}

/**
 * Revocations the way the admin API makes them (admin/people.ts: a person by any identifier, and
 * by sub for each person seen; the denylist cache forgotten), so the console and the CLI agree.
 */
export interface RevocationActions {
  revokeUser(value: string, by: ConsoleActor, reason: string | undefined): Promise<void>;
  revokeSession(session: string, by: ConsoleActor, reason: string | undefined): Promise<void>;
  /** Lifts every revocation of the person the value names. */
  restoreUser(value: string, by: ConsoleActor): Promise<boolean>;
  /** Lifts one revocation. */
  restoreOne(kind: Revocation["kind"], value: string, by: ConsoleActor): Promise<boolean>;
}

/**
 * Budgets and limits set and cleared the way the admin API does it (admin/budgets.ts,
 * admin/limits.ts: a person's settings by any identifier, every change in the audit log), so a
 * budget set in the console is the one `admin budget` lists.
 */
export interface SettingActions {
  setBudget(budget: Budget, by: ConsoleActor): Promise<void>;
  clearBudget(subject: Budget["subject"], period: Budget["period"], unit: Budget["unit"] | undefined, by: ConsoleActor): Promise<number>;
  setLimit(limit: RateLimit, by: ConsoleActor): Promise<void>;
  clearLimit(subject: RateLimit["subject"], by: ConsoleActor): Promise<number>;
}

/** Budgets and limits of the policy file (read-only here). */
export interface PolicySettings {
  budgets(): readonly BudgetSetting[];
  limits(): readonly { subject: BudgetSetting["subject"]; rpm?: number; tpm?: number }[];
}

export interface ConsoleDataPorts {
  tenant: string;
  rollups: UsageRollups;
  state: Pick<GatewayState, "listBudgets" | "setBudget" | "clearBudget" | "listLimits" | "setLimit" | "clearLimit" | "listRevocations">;
  actions: RevocationActions;
  /** Default: straight to the state store (no audit), for tests and the harness. */
  settings?: SettingActions;
  policy?: PolicySettings;
  /** The audit log, once the gateway keeps one. */
  audit?(query: AuditQuery): Promise<{ total: number; entries: AuditPage["entries"] }>;
  /** Each change made in the console (when `actions` and `settings` do not audit it themselves). */
  onChange?(change: { action: string; target: string; detail: string; by: string }): void;
  /** A person's sign-ins, when the gateway keeps them. */
  sessions?(sub: string): Promise<SessionView[]>;
}

const iso = (t: number) => new Date(t).toISOString();

/** When a budget's current period ends (UTC). */
function resetsAt(period: "day" | "month", today: IsoDay): string {
  const [y, m, d] = today.split("-").map(Number) as [number, number, number];
  return iso(period === "day" ? Date.UTC(y, m - 1, d + 1) : Date.UTC(y, m, 1));
}

function labelOf(subject: BudgetSetting["subject"], directory: readonly PersonEntry[]): SubjectWire {
  if (subject.kind === "tenant") return { kind: "tenant", id: "*", label: "Everyone (tenant)" };
  if (subject.kind === "group") return { kind: "group", id: subject.id, label: subject.id === "" ? "(no group)" : subject.id };
  const v = subject.id.toLowerCase();
  const p = directory.find((e) => e.sub.toLowerCase() === v || e.username?.toLowerCase() === v || e.email === v);
  return { kind: "user", id: subject.id, label: p?.name ?? subject.id };
}

const toSetting = (b: Budget): BudgetSetting => ({ subject: { kind: b.subject.kind, id: b.subject.id }, period: b.period, unit: b.unit, limit: b.limit, soft: b.soft });

/** Whether a setting's subject applies to this person. */
function appliesTo(subject: BudgetSetting["subject"], p: PersonEntry): boolean {
  if (subject.kind === "tenant") return true;
  if (subject.kind === "group") return p.groups.includes(subject.id) || (p.groups.length === 0 && subject.id === "");
  const v = subject.id.toLowerCase();
  return p.sub.toLowerCase() === v || p.username?.toLowerCase() === v || p.email === v;
}

function revocationNames(r: Revocation, p: PersonEntry): boolean {
  if (r.kind === "origin_jti") return false;
  const v = r.value.toLowerCase();
  return [p.sub, p.username, p.email].some((id) => id !== undefined && id.toLowerCase() === v);
}

export function createConsoleData(ports: ConsoleDataPorts): ConsoleData {
  const { tenant, state } = ports;
  const queries = new RollupQueries(ports.rollups);
  const settingActions = ports.settings ?? stateSettingActions(state, tenant);

  async function settings(): Promise<{ budgets: (BudgetSetting & { source: SettingSource })[]; limits: (LimitView & { raw: BudgetSetting["subject"] })[] }> {
    const [budgets, limits] = await Promise.all([state.listBudgets(tenant), state.listLimits(tenant)]);
    const rate = (l: { subject: BudgetSetting["subject"]; rpm?: number; tpm?: number }, source: SettingSource) => ({ subject: { ...l.subject, label: l.subject.id }, raw: l.subject, rpm: l.rpm ?? null, tpm: l.tpm ?? null, source });
    return {
      budgets: [...(ports.policy?.budgets() ?? []).map((b) => ({ ...b, source: "policy" as const })), ...budgets.map((b) => ({ ...toSetting(b), source: "api" as const }))],
      limits: [...(ports.policy?.limits() ?? []).map((l) => rate(l, "policy")), ...limits.map((l: RateLimit) => rate(l, "api"))],
    };
  }

  async function budgetViews(today: IsoDay, only?: (s: BudgetSetting["subject"]) => boolean): Promise<BudgetsAndLimits> {
    const [{ budgets, limits }, current, directory] = await Promise.all([settings(), queries.currentUse(tenant, today), queries.directory(tenant)]);
    const shown = only ? budgets.filter((b) => only(b.subject)) : budgets;
    return {
      budgets: shown.map((b) => {
        const burn = burnOf(b, useOf(b, current, directory));
        return { subject: labelOf(b.subject, directory), period: b.period, unit: b.unit, limit: b.limit, soft: b.soft, source: b.source, used: burn.used, fraction: burn.fraction, resets_at: resetsAt(b.period, today) };
      }),
      limits: (only ? limits.filter((l) => only(l.raw)) : limits).map(({ raw, ...l }) => ({ ...l, subject: labelOf(raw, directory) })),
    };
  }

  /** Revocations in force (only those naming `person`, when given), labelled with the person they name. */
  async function revocationViews(person?: PersonEntry): Promise<RevocationView[]> {
    const [list, directory] = await Promise.all([state.listRevocations(tenant), queries.directory(tenant)]);
    return list
      .filter((r) => person === undefined || revocationNames(r, person))
      .map((r) => ({ kind: r.kind, value: r.value, label: directory.find((p) => revocationNames(r, p))?.name ?? r.value, at: iso(r.at), until: iso(r.until), by: r.by ?? null, reason: r.reason ?? null }));
  }

  const apiBudgets = async () => (await settings()).budgets;
  const changed = (action: string, target: string, detail: string, by: ConsoleActor) => ports.onChange?.({ action, target, detail, by: by.name });
  const subjectText = (s: BudgetSetting["subject"]) => (s.kind === "tenant" ? "tenant" : `${s.kind} ${s.id}`);

  return {
    async overview(range, today) {
      return queries.overview(tenant, range, today, await apiBudgets());
    },
    async people(query, today) {
      return queries.peopleTable(tenant, query, await apiBudgets(), today);
    },
    async groups(query, today) {
      return queries.groupsTable(tenant, query, await apiBudgets(), today);
    },
    models(query) {
      return queries.modelsTable(tenant, query);
    },
    async person(sub, range, today) {
      const found = await queries.person(tenant, sub, range);
      if (!found) return undefined;
      const entry: PersonEntry = { sub, name: found.person.name, groups: found.person.groups, lastDay: "", ...(found.person.username ? { username: found.person.username } : {}), ...(found.person.email ? { email: found.person.email } : {}) };
      const [shown, revocations, sessions] = await Promise.all([budgetViews(today, (s) => appliesTo(s, entry)), revocationViews(entry), ports.sessions?.(sub) ?? Promise.resolve(null)]);
      return { ...found, range, budgets: shown.budgets, limits: shown.limits, sessions, revocations };
    },
    budgets(today) {
      return budgetViews(today);
    },
    async setBudget(input, by, today) {
      await settingActions.setBudget({ tenant, subject: input.subject, period: input.period, unit: input.unit, limit: budgetLimitOf(input), soft: input.soft }, by);
      changed("budget.set", subjectText(input.subject), `${input.period} ${input.unit} ${input.amount}${input.soft ? " soft" : ""}`, by);
      const id = input.subject.kind === "user" ? input.subject.id.toLowerCase() : input.subject.id;
      const view = (await budgetViews(today)).budgets.find((b) => b.source === "api" && b.subject.kind === input.subject.kind && b.subject.id === id && b.period === input.period && b.unit === input.unit);
      return view ?? { subject: { ...input.subject, label: input.subject.id }, period: input.period, unit: input.unit, limit: budgetLimitOf(input), soft: input.soft, source: "api", used: 0, fraction: 0, resets_at: resetsAt(input.period, today) };
    },
    async clearBudget(input, by) {
      const n = await settingActions.clearBudget(input.subject, input.period, input.unit, by);
      changed("budget.clear", subjectText(input.subject), `${input.period}${input.unit ? ` ${input.unit}` : ""}: ${n} cleared`, by);
      return n;
    },
    async setLimit(input, by) {
      await settingActions.setLimit({ tenant, subject: input.subject, ...(input.rpm !== null ? { rpm: input.rpm } : {}), ...(input.tpm !== null ? { tpm: input.tpm } : {}) }, by);
      changed("limit.set", subjectText(input.subject), `rpm ${input.rpm ?? "-"} tpm ${input.tpm ?? "-"}`, by);
      return { subject: { ...input.subject, label: input.subject.id }, rpm: input.rpm, tpm: input.tpm, source: "api" };
    },
    async clearLimit(subject, by) {
      const n = await settingActions.clearLimit(subject, by);
      changed("limit.clear", subjectText(subject), `${n} cleared`, by);
      return n;
    },
    async audit(query) {
      if (!ports.audit) return { available: false, range: query.range, total: 0, offset: query.offset, limit: query.limit, entries: [] };
      const { total, entries } = await ports.audit(query);
      return { available: true, range: query.range, total, offset: query.offset, limit: query.limit, entries };
    },
    revocations: () => revocationViews(),
    async revoke(input, by) {
      if ("user" in input) await ports.actions.revokeUser(input.user, by, input.reason);
      else await ports.actions.revokeSession(input.session, by, input.reason);
      changed("revoke", "user" in input ? `user ${input.user}` : `session ${input.session}`, input.reason ?? "", by);
      return revocationViews();
    },
    async restore(input, by) {
      const done = input.kind === "user" ? await ports.actions.restoreUser(input.value, by) : await ports.actions.restoreOne(input.kind, input.value, by);
      changed("restore", `${input.kind} ${input.value}`, done ? "lifted" : "nothing in force", by);
      return done;
    },
  };
}

/** Budgets and limits straight into the state store (no audit, no resolution of a person's identifiers): tests, the harness. */
export function stateSettingActions(state: Pick<GatewayState, "setBudget" | "clearBudget" | "setLimit" | "clearLimit">, tenant: string): SettingActions {
  return {
    setBudget: (budget) => state.setBudget(budget),
    clearBudget: (subject, period, unit) => state.clearBudget(tenant, subject, period, unit),
    setLimit: (limit) => state.setLimit(limit),
    clearLimit: async (subject) => ((await state.clearLimit(tenant, subject)) ? 1 : 0),
  };
}

/**
 * Revocations over the state store alone, for a gateway without the admin API's resolution
 * (tests, the console harness): a person by the value under kind `user`, lifted the same way.
 */
export function stateRevocationActions(state: Pick<GatewayState, "revoke" | "restore" | "listRevocations">, tenant: string, ttlMs: number, now: () => number, forget: () => void = () => {}): RevocationActions {
  return {
    async revokeUser(value, by, reason) {
      const at = now();
      await state.revoke({ tenant, kind: "user", value, at, until: at + ttlMs, by: by.name, ...(reason ? { reason } : {}) });
      forget();
    },
    async revokeSession(session, by, reason) {
      const at = now();
      await state.revoke({ tenant, kind: "origin_jti", value: session, at, until: at + ttlMs, by: by.name, ...(reason ? { reason } : {}) });
      forget();
    },
    async restoreUser(value) {
      const v = value.toLowerCase();
      let lifted = false;
      for (const r of await state.listRevocations(tenant)) if (r.kind !== "origin_jti" && r.value.toLowerCase() === v) lifted = (await state.restore(tenant, r.kind, r.value)) || lifted;
      forget();
      return lifted;
    },
    async restoreOne(kind, value) {
      const done = await state.restore(tenant, kind, value);
      forget();
      return done;
    },
  };
}
