import { expect, test } from "bun:test";
import { parsePolicyText } from "../../shared/policy/parse.ts";
import { compilePolicy } from "../../shared/policy/resolve.ts";
import { budgetName, explainAccess, policyBudgets, policyLimits, showPolicy } from "./enforcement.ts";

const compiled = compilePolicy(
  parsePolicyText(
    JSON.stringify({
      groups: {
        contractors: { models: ["claude-haiku-*"], budgets: [{ period: "day", usd: 5 }], limits: { rpm: 30, tpm: 400000 } },
        platform: { models: ["*"], budgets: [{ period: "month", usd: 2000, pool: true }], limits: { rpm: 600, pool: true } },
        developers: { models: ["claude-sonnet-*"], budgets: [{ period: "month", usd: 300, soft: true }], limits: { rpm: 20 } },
        "team/a.b": { budgets: [{ period: "day", tokens: 1000 }] },
      },
      default: { models: ["claude-haiku-*"], budgets: [{ period: "day", usd: 1 }] },
    }),
    "p.json",
  ).policy,
);
const carol = { sub: "sub-carol", displayName: "carol@example.com", groups: ["contractors", "platform", "developers", "local_Pool_ExampleCorp"] };

test("budgets in the state's shape: per member on the person, pool on the group, each named by its policy member", () => {
  expect(policyBudgets("acme", carol, compiled.access(carol.groups))).toEqual([
    { budget: { tenant: "acme", subject: { kind: "user", id: "sub-carol" }, period: "day", unit: "usd", limit: 5_000_000, soft: false, policy: { name: "groups.contractors.budgets[0]", source: "group contractors" } }, name: "groups.contractors.budgets[0]", source: { kind: "group", group: "contractors" } },
    { budget: { tenant: "acme", subject: { kind: "group", id: "platform" }, period: "month", unit: "usd", limit: 2_000_000_000, soft: false, policy: { name: "groups.platform.budgets[0]", source: "group platform" } }, name: "groups.platform.budgets[0]", source: { kind: "group", group: "platform" } },
    { budget: { tenant: "acme", subject: { kind: "user", id: "sub-carol" }, period: "month", unit: "usd", limit: 300_000_000, soft: true, policy: { name: "groups.developers.budgets[0]", source: "group developers" } }, name: "groups.developers.budgets[0]", source: { kind: "group", group: "developers" } },
  ]);
  expect(policyBudgets("acme", { sub: "s" }, compiled.access([])).map((b) => b.name)).toEqual(["default.budgets[0]"]);
  expect(budgetName(compiled.access(["team/a.b"]).budgets[0]!)).toBe('groups["team/a.b"].budgets[0]');
});

test("limits: every per-member limit on the person's one window (the smallest of each), pooled ones on the group", () => {
  expect(policyLimits("acme", carol, compiled.access(carol.groups))).toEqual([
    { tenant: "acme", subject: { kind: "user", id: "sub-carol" }, rpm: 20, tpm: 400000 },
    { tenant: "acme", subject: { kind: "group", id: "platform" }, rpm: 600 },
  ]);
  expect(policyLimits("acme", { sub: "s" }, compiled.access([]))).toEqual([]);
});

test("explain: groups, models, budgets and limits with their sources", () => {
  const out = explainAccess(carol, compiled.access(carol.groups));
  expect(out.policy_groups).toEqual(["contractors", "platform", "developers"]);
  expect(out.default_applies).toBe(false);
  expect(out.models).toEqual([{ pattern: "*", source: "group platform" }]);
  expect(out.budgets[1]).toEqual({ name: "groups.platform.budgets[0]", source: "group platform", period: "month", usd: 2000, soft: false, counts: "the group (pool)" });
  expect(out.limits[0]).toEqual({ source: "group contractors", rpm: 30, tpm: 400000, counts: "this person" });
});

test("show: the hash, where it came from, the rules", () => {
  const shown = showPolicy({ compiled, origin: "/etc/agent-runner/policy.yaml", appliedAt: Date.UTC(2026, 11, 4) });
  expect(shown).toMatchObject({ hash: compiled.hash, origin: "/etc/agent-runner/policy.yaml", applied_at: "2026-12-04T00:00:00.000Z" });
  expect(Object.keys(shown.groups)).toEqual(["contractors", "platform", "developers", "team/a.b"]);
});
