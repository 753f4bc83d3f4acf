/**
 * A tenant's policy as written (deploy/policy.schema.json, docs/policy.md): Cognito groups to
 * models, budgets and rate limits, plus the rule for people in none of the listed groups.
 * These are the shapes after validation (parse.ts); resolution for a person is resolve.ts.
 */

export type PolicyPeriod = "day" | "month";

export interface PolicyBudget {
  period: PolicyPeriod;
  /** Exactly one of usd and tokens. */
  usd?: number;
  tokens?: number;
  soft?: boolean;
  /** Groups only: one budget shared by all members instead of one per member. */
  pool?: boolean;
  description?: string;
}

export interface PolicyLimits {
  rpm?: number;
  tpm?: number;
  /** Groups only: one limit for the group as a whole instead of one per member. */
  pool?: boolean;
}

export interface PolicyRule {
  description?: string;
  /** Patterns (`*` = any run of characters). Absent: every model; empty: none. */
  models?: string[];
  budgets?: PolicyBudget[];
  limits?: PolicyLimits;
}

export interface Policy {
  $schema?: string;
  version?: 1;
  groups?: Record<string, PolicyRule>;
  default?: PolicyRule;
}

/** Where a rule a person gets comes from. `admin` is a budget or limit set through the admin API (joined in by the gateway). */
export type RuleSource = { kind: "group"; group: string } | { kind: "default" } | { kind: "admin" };

export function sourceText(source: RuleSource): string {
  return source.kind === "group" ? `group ${source.group}` : source.kind === "default" ? "default" : "admin API";
}
