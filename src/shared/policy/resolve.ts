/**
 * What the policy gives a person, from their `cognito:groups`:
 *   - models: the union over their listed groups (a group without `models` allows every model);
 *     `default` when they are in none of the listed groups (absent `default`: every model);
 *   - budgets and limits: every one of each listed group (or of `default`), each with its
 *     source; `pool` ones count the group as a whole, the others each member. All must hold.
 *
 * Resolution runs on every request, so it is computed once per distinct group set and cached:
 * first by the groups array itself (the verified-token cache hands the same array to every
 * request of a token), then by its contents, then by the set of listed groups it contains; a
 * model decision is cached per set as well. bench/policy.ts measures it.
 */
import { compilePatterns, type ModelMatcher } from "./patterns.ts";
import { policyHash } from "./canonical.ts";
import type { Policy, PolicyPeriod, PolicyRule, RuleSource } from "./types.ts";

export interface ModelGrant {
  pattern: string;
  source: RuleSource;
}

export interface ResolvedBudget {
  source: RuleSource;
  /** Its place in the source rule's `budgets` (for `groups.contractors.budgets[0]`). */
  index: number;
  period: PolicyPeriod;
  unit: "usd" | "tokens";
  /** Micro-dollars for usd (the ledger's unit), tokens for tokens. */
  limit: number;
  soft: boolean;
  /** Whose spend it counts: the person's (one budget per member) or the whole group's (pool). */
  scope: "user" | "group";
}

export interface ResolvedLimit {
  source: RuleSource;
  rpm?: number;
  tpm?: number;
  /** Whose requests it counts: the person's, or the whole group's (pool). */
  scope: "user" | "group";
}

export interface Access {
  /** The person's groups that the policy lists, in policy order; empty when `default` applies. */
  readonly groups: readonly string[];
  /** True when the person is in none of the listed groups (`default` applies, written or not). */
  readonly fromDefault: boolean;
  /** Rules that allow every model (no `models`); non-empty means every model is allowed. */
  readonly everyModelFrom: readonly RuleSource[];
  /** The patterns of the rules that list models, in policy order (duplicates kept once). */
  readonly models: readonly ModelGrant[];
  readonly budgets: readonly ResolvedBudget[];
  readonly limits: readonly ResolvedLimit[];
  /** Whether this person may use the model (cached per group set). */
  mayUse(model: string): boolean;
  /** What the person may use, for messages: `["*"]`, or the patterns in order. */
  allowedPatterns(): string[];
}

/** Cache sizes: distinct group lists and models are few in practice; a flood of new ones only costs recomputation. */
const MAX_GROUP_LISTS = 8192;
const MAX_MODELS_PER_SET = 256;

class ResolvedAccess implements Access {
  private readonly decisions = new Map<string, boolean>();
  private readonly matcher: ModelMatcher;

  constructor(
    readonly groups: readonly string[],
    readonly fromDefault: boolean,
    readonly everyModelFrom: readonly RuleSource[],
    readonly models: readonly ModelGrant[],
    readonly budgets: readonly ResolvedBudget[],
    readonly limits: readonly ResolvedLimit[],
  ) {
    this.matcher = everyModelFrom.length > 0 ? () => true : compilePatterns(models.map((m) => m.pattern));
  }

  mayUse(model: string): boolean {
    if (this.everyModelFrom.length > 0) return true;
    const known = this.decisions.get(model);
    if (known !== undefined) return known;
    const allowed = this.matcher(model);
    if (this.decisions.size >= MAX_MODELS_PER_SET) this.decisions.clear();
    this.decisions.set(model, allowed);
    return allowed;
  }

  allowedPatterns(): string[] {
    return this.everyModelFrom.length > 0 ? ["*"] : [...new Set(this.models.map((m) => m.pattern))];
  }
}

const DEFAULT_SOURCE: RuleSource = { kind: "default" };

function resolveRules(rules: { rule: PolicyRule; source: RuleSource }[], groups: readonly string[], fromDefault: boolean): Access {
  const everyModelFrom: RuleSource[] = [];
  const models: ModelGrant[] = [];
  const seenPatterns = new Set<string>();
  const budgets: ResolvedBudget[] = [];
  const limits: ResolvedLimit[] = [];
  for (const { rule, source } of rules) {
    if (rule.models === undefined) everyModelFrom.push(source);
    for (const pattern of rule.models ?? []) {
      if (seenPatterns.has(pattern)) continue;
      seenPatterns.add(pattern);
      models.push({ pattern, source });
    }
    (rule.budgets ?? []).forEach((b, index) => {
      const unit = b.usd !== undefined ? "usd" : "tokens";
      budgets.push({ source, index, period: b.period, unit, limit: unit === "usd" ? Math.round(b.usd! * 1e6) : b.tokens!, soft: b.soft === true, scope: b.pool && source.kind === "group" ? "group" : "user" });
    });
    if (rule.limits) {
      const { rpm, tpm } = rule.limits;
      limits.push({ source, ...(rpm !== undefined ? { rpm } : {}), ...(tpm !== undefined ? { tpm } : {}), scope: rule.limits.pool && source.kind === "group" ? "group" : "user" });
    }
  }
  return new ResolvedAccess(Object.freeze([...groups]), fromDefault, Object.freeze(everyModelFrom), Object.freeze(models), Object.freeze(budgets), Object.freeze(limits));
}

/** A validated policy, ready for requests. Build one per load (reload builds a new one). */
export class CompiledPolicy {
  readonly hash: string;
  private readonly rules: Map<string, PolicyRule>;
  private readonly byArray = new WeakMap<readonly string[], Access>();
  private readonly byList = new Map<string, Access>();
  private readonly bySet = new Map<string, Access>();
  private readonly defaultAccess: Access;
  private readonly positions = new Map<string, number>();

  constructor(readonly policy: Policy) {
    this.hash = policyHash(policy);
    this.rules = new Map(Object.entries(policy.groups ?? {}));
    [...this.rules.keys()].forEach((g, i) => this.positions.set(g, i));
    this.defaultAccess = resolveRules([{ rule: policy.default ?? {}, source: DEFAULT_SOURCE }], [], true);
  }

  /** The group names the policy lists, in policy order. */
  groupNames(): string[] {
    return [...this.rules.keys()];
  }

  /** What a person with these `cognito:groups` gets. */
  access(groups: readonly string[]): Access {
    const hit = this.byArray.get(groups);
    if (hit) return hit;
    const listKey = groups.length === 1 ? groups[0]! : groups.join("\u0000");
    let access = this.byList.get(listKey);
    if (!access) {
      access = this.bySetOf(groups);
      if (this.byList.size >= MAX_GROUP_LISTS) this.byList.clear();
      this.byList.set(listKey, access);
    }
    this.byArray.set(groups, access);
    return access;
  }

  /** Without any cache: the reference the benchmark and the tests compare against. */
  resolveUncached(groups: readonly string[]): Access {
    const listed = this.listed(groups);
    if (listed.length === 0) return resolveRules([{ rule: this.policy.default ?? {}, source: DEFAULT_SOURCE }], [], true);
    return resolveRules(listed.map((group) => ({ rule: this.rules.get(group)!, source: { kind: "group", group } })), listed, false);
  }

  private listed(groups: readonly string[]): string[] {
    const listed = new Set<string>();
    for (const g of groups) if (this.rules.has(g)) listed.add(g);
    // policy order, so sources and patterns read as the file does
    return [...listed].sort((a, b) => this.positions.get(a)! - this.positions.get(b)!);
  }

  private bySetOf(groups: readonly string[]): Access {
    const listed = this.listed(groups);
    if (listed.length === 0) return this.defaultAccess;
    const setKey = listed.join("\u0000");
    let access = this.bySet.get(setKey);
    if (!access) {
      access = resolveRules(listed.map((group) => ({ rule: this.rules.get(group)!, source: { kind: "group", group } })), listed, false);
      if (this.bySet.size >= MAX_GROUP_LISTS) this.bySet.clear();
      this.bySet.set(setKey, access);
    }
    return access;
  }
}

export function compilePolicy(policy: Policy): CompiledPolicy {
  return new CompiledPolicy(policy);
}
