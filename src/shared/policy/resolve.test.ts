import { describe, expect, test } from "bun:test";
import { parsePolicyText } from "./parse.ts";
import { compilePolicy } from "./resolve.ts";

const POLICY = parsePolicyText(
  `{ "groups": {
      "contractors": { "models": ["claude-haiku-*"], "budgets": [{"period": "day", "usd": 5}], "limits": {"rpm": 30, "tpm": 400000} },
      "platform":    { "models": ["*"], "budgets": [{"period": "month", "usd": 2000, "pool": true}], "limits": {"rpm": 600, "pool": true} },
      "developers":  { "models": ["claude-sonnet-*", "claude-haiku-*"], "budgets": [{"period": "month", "usd": 300, "soft": true}, {"period": "day", "tokens": 5000000}] },
      "auditors":    {} },
    "default": { "models": ["claude-haiku-*"], "budgets": [{"period": "day", "usd": 1}], "limits": {"rpm": 10} } }`,
  "policy.json",
).policy;

const compiled = compilePolicy(POLICY);

describe("models", () => {
  test("zero listed groups: default's models (unlisted groups are ignored)", () => {
    for (const groups of [[], ["local_AgentRunner_ExampleCorp"], ["Developers"]]) {
      const a = compiled.access(groups);
      expect(a.fromDefault).toBe(true);
      expect(a.groups).toEqual([]);
      expect(a.mayUse("claude-haiku-4-5")).toBe(true);
      expect(a.mayUse("claude-sonnet-4-5")).toBe(false);
      expect(a.allowedPatterns()).toEqual(["claude-haiku-*"]);
    }
  });

  test("one group: its models only", () => {
    const a = compiled.access(["contractors"]);
    expect(a.fromDefault).toBe(false);
    expect(a.mayUse("claude-haiku-4-5")).toBe(true);
    expect(a.mayUse("claude-sonnet-4-5")).toBe(false);
    expect(a.mayUse("claude-opus-4-1")).toBe(false);
  });

  test("two groups: the union, each pattern with its first source", () => {
    const a = compiled.access(["developers", "contractors"]);
    expect(a.groups).toEqual(["contractors", "developers"]); // policy order
    expect(a.mayUse("claude-sonnet-4-5")).toBe(true);
    expect(a.mayUse("claude-haiku-4-5")).toBe(true);
    expect(a.mayUse("claude-opus-4-1")).toBe(false);
    expect(a.models).toEqual([
      { pattern: "claude-haiku-*", source: { kind: "group", group: "contractors" } },
      { pattern: "claude-sonnet-*", source: { kind: "group", group: "developers" } },
    ]);
  });

  test("a group without models allows every model, whatever the other groups say", () => {
    const a = compiled.access(["contractors", "auditors"]);
    expect(a.mayUse("claude-opus-4-1")).toBe(true);
    expect(a.everyModelFrom).toEqual([{ kind: "group", group: "auditors" }]);
    expect(a.allowedPatterns()).toEqual(["*"]);
  });

  test("no default in the policy: people in no listed group may use every model, with no budget or limit", () => {
    const bare = compilePolicy(parsePolicyText('{"groups": {"x": {"models": ["a"]}}}', "p.json").policy).access(["y"]);
    expect(bare.mayUse("claude-opus-4-1")).toBe(true);
    expect(bare.everyModelFrom).toEqual([{ kind: "default" }]);
    expect(bare.budgets).toEqual([]);
    expect(bare.limits).toEqual([]);
  });

  test("an empty default allows no model", () => {
    const closed = compilePolicy(parsePolicyText('{"groups": {"x": {"models": ["a"]}}, "default": {"models": []}}', "p.json").policy).access([]);
    expect(closed.mayUse("a")).toBe(false);
    expect(closed.allowedPatterns()).toEqual([]);
  });
});

describe("budgets and limits, each with its source", () => {
  test("one each per member unless pool; usd in micro-dollars", () => {
    expect(compiled.access(["platform", "contractors"]).budgets).toEqual([
      { source: { kind: "group", group: "contractors" }, index: 0, period: "day", unit: "usd", limit: 5_000_000, soft: false, scope: "user" },
      { source: { kind: "group", group: "platform" }, index: 0, period: "month", unit: "usd", limit: 2_000_000_000, soft: false, scope: "group" },
    ]);
    expect(compiled.access(["developers"]).budgets).toEqual([
      { source: { kind: "group", group: "developers" }, index: 0, period: "month", unit: "usd", limit: 300_000_000, soft: true, scope: "user" },
      { source: { kind: "group", group: "developers" }, index: 1, period: "day", unit: "tokens", limit: 5_000_000, soft: false, scope: "user" },
    ]);
  });

  test("every limit that applies is listed (all must hold)", () => {
    expect(compiled.access(["platform", "contractors"]).limits).toEqual([
      { source: { kind: "group", group: "contractors" }, rpm: 30, tpm: 400000, scope: "user" },
      { source: { kind: "group", group: "platform" }, rpm: 600, scope: "group" },
    ]);
  });

  test("default's budgets and limits apply only to people in no listed group", () => {
    expect(compiled.access([]).budgets).toEqual([{ source: { kind: "default" }, index: 0, period: "day", unit: "usd", limit: 1_000_000, soft: false, scope: "user" }]);
    expect(compiled.access([]).limits).toEqual([{ source: { kind: "default" }, rpm: 10, scope: "user" }]);
    expect(compiled.access(["auditors"]).budgets).toEqual([]);
  });

  test("usd amounts with six decimals become exact micro-dollars", () => {
    const p = compilePolicy(parsePolicyText('{"groups": {"x": {"budgets": [{"period": "day", "usd": 0.000001}, {"period": "month", "usd": 19.99}]}}}', "p.json").policy);
    expect(p.access(["x"]).budgets.map((b) => b.limit)).toEqual([1, 19_990_000]);
  });
});

describe("caching", () => {
  test("the same array, the same list and the same listed set share one answer", () => {
    const groups = ["developers", "contractors", "unlisted"];
    const first = compiled.access(groups);
    expect(compiled.access(groups)).toBe(first);
    expect(compiled.access([...groups])).toBe(first);
    expect(compiled.access(["contractors", "developers"])).toBe(first);
    expect(compiled.access(["nobody"])).toBe(compiled.access([]));
  });

  test("the cached answer equals the uncached resolution for every group set of a 50-group policy", () => {
    const groups: Record<string, object> = {};
    for (let i = 0; i < 50; i++) groups[`g${i}`] = i % 7 === 0 ? {} : { models: [`m${i % 5}-*`], budgets: [{ period: i % 2 ? "day" : "month", usd: i + 1, pool: i % 3 === 0 }] };
    const p = compilePolicy(parsePolicyText(JSON.stringify({ groups, default: { models: ["m0-*"] } }), "p.json").policy);
    for (let person = 0; person < 300; person++) {
      const mine = [`g${(person * 7) % 50}`, `g${(person * 13) % 50}`, "other"].slice(0, 1 + (person % 3));
      const cached = p.access(mine);
      const fresh = p.resolveUncached(mine);
      const shown = (a: typeof cached) => ({ groups: a.groups, fromDefault: a.fromDefault, everyModelFrom: a.everyModelFrom, models: a.models, budgets: a.budgets, limits: a.limits });
      expect(shown(cached)).toEqual(shown(fresh));
      for (const model of ["m0-a", "m3-b", "x"]) expect(cached.mayUse(model)).toBe(fresh.mayUse(model));
    }
  });

  test("a flood of distinct model ids does not grow memory without bound, and answers stay right", () => {
    const a = compiled.access(["contractors"]);
    for (let i = 0; i < 2000; i++) expect(a.mayUse(`claude-haiku-${i}`)).toBe(true);
    expect(a.mayUse("claude-opus-4-1")).toBe(false);
  });

  test("a reload builds a new compiled policy with its own hash", () => {
    const wider = compilePolicy(parsePolicyText('{"groups": {"contractors": {"models": ["*"]}}}', "p.json").policy);
    expect(wider.hash).not.toBe(compiled.hash);
    expect(wider.access(["contractors"]).mayUse("claude-opus-4-1")).toBe(true);
    expect(compiled.access(["contractors"]).mayUse("claude-opus-4-1")).toBe(false);
  });
});
