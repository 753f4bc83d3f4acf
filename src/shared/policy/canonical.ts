/**
 * The policy's hash: sha256 of a canonical form of what is enforced. The same rules give the same
 * hash whatever the format (JSON or YAML), the key order, the whitespace and comments, the
 * `description`s, `$schema`, `version`, and whether a default (`soft: false`, `budgets: []`) is
 * written out; model patterns and budgets keep their order (they are shown in that order).
 * `/readyz`, `admin policy show` and `admin policy check` print it, so an operator can tell
 * whether every replica enforces the reviewed file.
 */
import { createHash } from "node:crypto";
import type { Policy, PolicyBudget, PolicyLimits, PolicyRule } from "./types.ts";

type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical };

function budget(b: PolicyBudget): Canonical {
  return { period: b.period, ...(b.usd !== undefined ? { usd: b.usd } : { tokens: b.tokens ?? 0 }), ...(b.soft ? { soft: true } : {}), ...(b.pool ? { pool: true } : {}) };
}

function limits(l: PolicyLimits): Canonical {
  return { ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}), ...(l.pool ? { pool: true } : {}) };
}

function rule(r: PolicyRule): Canonical {
  return {
    ...(r.models !== undefined ? { models: [...r.models] } : {}),
    ...(r.budgets && r.budgets.length > 0 ? { budgets: r.budgets.map(budget) } : {}),
    ...(r.limits ? { limits: limits(r.limits) } : {}),
  };
}

export function canonicalPolicy(policy: Policy): Canonical {
  const groups = Object.entries(policy.groups ?? {});
  return {
    ...(groups.length > 0 ? { groups: Object.fromEntries(groups.map(([name, r]) => [name, rule(r)])) } : {}),
    ...(policy.default ? { default: rule(policy.default) } : {}),
  };
}

/** JSON with object keys sorted (by UTF-16 code units, as RFC 8785) at every level. */
export function canonicalJson(value: Canonical): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Hex sha256 of the canonical form. */
export function policyHash(policy: Policy): string {
  return createHash("sha256").update(canonicalJson(canonicalPolicy(policy))).digest("hex");
}

/** `sha256:` and the first 12 hex digits, for lines people read. */
export const shortHash = (hash: string): string => `sha256:${hash.slice(0, 12)}`;
