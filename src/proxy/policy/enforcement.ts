/**
 * The policy's budgets and limits for one person, in the shapes the state store enforces
 * (model/budgets.ts, model/rate-windows.ts), and what `admin policy show` and `admin policy explain` will print. Pure:
 * the request path and the admin API call these once the wiring lands (docs/policy.md).
 *
 * Mapping: a budget or limit for each member counts the person (`user` subject, by `sub`); a
 * `pool` one counts the group (`group` subject), whose counter every member's spend moves. The
 * per-member limits of several groups are all enforced on the person's one window, which is
 * the same as enforcing the smallest rpm and the smallest tpm.
 */
import type { Access, ResolvedBudget } from "../../shared/policy/resolve.ts";
import { modelSources } from "../../shared/policy/models.ts";
import { sourceText, type RuleSource } from "../../shared/policy/types.ts";
import type { PolicyInForce } from "./source.ts";
import type { Budget } from "../model/budgets.ts";
import type { RateLimit } from "../model/rate-windows.ts";

export interface PolicyBudget {
  budget: Budget;
  /** The policy member, for refusals, alerts and explain: `groups.contractors.budgets[0]`. */
  name: string;
  source: RuleSource;
}

const memberOf = (source: RuleSource) => (source.kind === "group" ? (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(source.group) ? `groups.${source.group}` : `groups[${JSON.stringify(source.group)}]`) : "default");

export const budgetName = (b: ResolvedBudget): string => `${memberOf(b.source)}.budgets[${b.index}]`;

export function policyBudgets(tenant: string, person: { sub: string }, access: Access): PolicyBudget[] {
  return access.budgets.map((b) => ({
    budget: {
      tenant,
      subject: b.scope === "group" && b.source.kind === "group" ? { kind: "group", id: b.source.group } : { kind: "user", id: person.sub },
      period: b.period,
      unit: b.unit,
      limit: b.limit,
      soft: b.soft,
      policy: { name: budgetName(b), source: sourceText(b.source) },
    },
    name: budgetName(b),
    source: b.source,
  }));
}

const smaller = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

export function policyLimits(tenant: string, person: { sub: string }, access: Access): RateLimit[] {
  let rpm: number | undefined;
  let tpm: number | undefined;
  const limits: RateLimit[] = [];
  for (const l of access.limits) {
    if (l.scope === "group" && l.source.kind === "group") {
      limits.push({ tenant, subject: { kind: "group", id: l.source.group }, ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) });
    } else {
      rpm = smaller(rpm, l.rpm);
      tpm = smaller(tpm, l.tpm);
    }
  }
  if (rpm !== undefined || tpm !== undefined) limits.unshift({ tenant, subject: { kind: "user", id: person.sub }, ...(rpm !== undefined ? { rpm } : {}), ...(tpm !== undefined ? { tpm } : {}) });
  return limits;
}

const amount = (b: ResolvedBudget) => (b.unit === "usd" ? { usd: b.limit / 1e6 } : { tokens: b.limit });

/** `admin policy explain --user U --json`: the person's groups, models, budgets and limits, each with its source. */
export function explainAccess(person: { sub: string; displayName: string; groups: readonly string[] }, access: Access) {
  return {
    user: person.displayName,
    sub: person.sub,
    groups: [...person.groups],
    policy_groups: [...access.groups],
    default_applies: access.fromDefault,
    models: modelSources(access),
    budgets: access.budgets.map((b) => ({ name: budgetName(b), source: sourceText(b.source), period: b.period, ...amount(b), soft: b.soft, counts: b.scope === "group" ? "the group (pool)" : "this person" })),
    limits: access.limits.map((l) => ({ source: sourceText(l.source), ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}), counts: l.scope === "group" ? "the group (pool)" : "this person" })),
  };
}

/** `admin policy show --json`: what is enforced now, its hash and where it came from. */
export function showPolicy(inForce: PolicyInForce) {
  const { compiled } = inForce;
  return {
    hash: compiled.hash,
    origin: inForce.origin,
    applied_at: new Date(inForce.appliedAt).toISOString(),
    groups: Object.fromEntries(compiled.groupNames().map((g) => [g, compiled.policy.groups![g]!])),
    default: compiled.policy.default ?? null,
  };
}
