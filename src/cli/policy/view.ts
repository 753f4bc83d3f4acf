/**
 * `admin policy show` and `admin policy explain` for a person: the gateway's answers as text
 * (every string from the gateway made inert for the terminal), or as JSON with --json.
 */
import type { PolicyExplainJson, PolicyShowJson } from "../../shared/gateway-api.ts";
import { sanitizeForTerminal as cell } from "../terminal-text.ts";

const short = (hash: string) => `sha256:${hash.slice(0, 12)}`;

type RuleLike = { models?: unknown; budgets?: unknown; limits?: unknown; description?: unknown };

function amountText(b: Record<string, unknown>): string {
  return typeof b.usd === "number" ? `$${b.usd}` : typeof b.tokens === "number" ? `${b.tokens} tokens` : "?";
}

/** One rule (a group's or the default) as indented lines. */
function ruleLines(name: string, raw: unknown): string[] {
  const rule = (raw && typeof raw === "object" ? raw : {}) as RuleLike;
  const lines = [`${cell(name)}${typeof rule.description === "string" ? ` — ${cell(rule.description)}` : ""}`];
  lines.push(`  models: ${Array.isArray(rule.models) ? (rule.models.length === 0 ? "none" : rule.models.map((m) => cell(String(m))).join(", ")) : "every model"}`);
  const budgets = Array.isArray(rule.budgets) ? (rule.budgets as Record<string, unknown>[]) : [];
  budgets.forEach((b, i) => lines.push(`  budgets[${i}]: ${amountText(b)} per ${b.period === "day" ? "day" : "month"}${b.soft === true ? ", soft (warns)" : ""}${b.pool === true ? ", shared by the group" : ", each member"}`));
  const limits = rule.limits && typeof rule.limits === "object" ? (rule.limits as Record<string, unknown>) : undefined;
  if (limits) lines.push(`  limits: ${[typeof limits.rpm === "number" ? `${limits.rpm} rpm` : "", typeof limits.tpm === "number" ? `${limits.tpm} tpm` : ""].filter(Boolean).join(", ")}${limits.pool === true ? ", for the whole group" : ", each member"}`);
  return lines;
}

export function renderPolicyShow(p: PolicyShowJson, json: boolean): string {
  if (json) return JSON.stringify(p, null, 2) + "\n";
  if (p.hash === null) return "This tenant has no policy: every signed-in person may use every model; budgets and limits are only those set with 'admin budget' and 'admin limit'.\n";
  const lines = [`Policy ${short(p.hash)} from ${cell(p.origin ?? "?")}, applied ${cell(p.applied_at ?? "?")}`, `hash: sha256:${cell(p.hash)}`, ""];
  for (const [name, rule] of Object.entries(p.groups)) lines.push(...ruleLines(`group ${name}`, rule), "");
  if (p.default !== null) lines.push(...ruleLines("default (people in none of the groups above)", p.default));
  else lines.push("default: none (people in none of the groups may use every model, no policy budget or limit)");
  return lines.join("\n") + "\n";
}

export function renderPolicyExplain(e: PolicyExplainJson, json: boolean): string {
  if (json) return JSON.stringify(e, null, 2) + "\n";
  const lines = [
    `${cell(e.user)} (sub ${cell(e.sub)}), last seen ${cell(e.last_seen)}`,
    `groups: ${e.groups === null ? "not recorded yet (seen before this gateway kept groups)" : e.groups.length === 0 ? "none" : e.groups.map(cell).join(", ")}`,
    e.policy_hash === null ? "policy: none" : `policy ${short(e.policy_hash)}: ${e.default_applies ? "in none of its groups, so its default applies" : `as a member of ${e.policy_groups.map(cell).join(", ")}`}`,
    "",
    "models:",
    ...(e.models.length === 0 ? ["  none"] : e.models.map((m) => `  ${cell(m.pattern)}  (${cell(m.source)})`)),
    "budgets (every one must fit):",
    ...(e.budgets.length === 0 ? ["  none"] : e.budgets.map((b) => `  ${amountText(b as unknown as Record<string, unknown>)} per ${b.period}${b.soft ? ", soft (warns)" : ""}, counts ${cell(b.counts)}  (${cell(b.source)}${b.name ? `: ${cell(b.name)}` : ""})`)),
    "rate limits (every one holds):",
    ...(e.limits.length === 0 ? ["  none"] : e.limits.map((l) => `  ${[l.rpm !== undefined ? `${l.rpm} rpm` : "", l.tpm !== undefined ? `${l.tpm} tpm` : ""].filter(Boolean).join(", ")}, counts ${cell(l.counts)}  (${cell(l.source)})`)),
  ];
  return lines.join("\n") + "\n";
}
