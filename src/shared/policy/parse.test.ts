import { describe, expect, test } from "bun:test";
import { PolicyError } from "./errors.ts";
import { formatOf, memberName, parsePolicyText, validatePolicy } from "./parse.ts";
import { policyHash } from "./canonical.ts";

const ISSUE_EXAMPLE = `{ "groups": {
    "contractors": { "models": ["claude-haiku-*"], "budgets": [{"period": "day", "usd": 5}], "limits": {"rpm": 30, "tpm": 400000} },
    "platform":    { "models": ["*"], "budgets": [{"period": "month", "usd": 2000, "pool": true}] },
    "developers":  { "models": ["claude-sonnet-*", "claude-haiku-*"], "budgets": [{"period": "month", "usd": 300, "soft": true}] } },
  "default": { "models": ["claude-haiku-*"] } }`;

const YAML_EXAMPLE = `# reviewed in the platform repository
groups:
  contractors:
    description: external staff, haiku only
    models: ["claude-haiku-*"]
    budgets:
      - { period: day, usd: 5 }
    limits: { rpm: 30, tpm: 400000 }
  platform:
    models: ["*"]
    budgets:
      - period: month
        usd: 2000
        pool: true
  developers:
    models:
      - "claude-sonnet-*"
      - "claude-haiku-*"
    budgets:
      - { period: month, usd: 300, soft: true }
default:
  models: ["claude-haiku-*"]
`;

/** The problems of a policy text, as `line: member: message` (line omitted when unknown). */
function problems(text: string, origin = "policy.yaml"): string[] {
  try {
    parsePolicyText(text, origin);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    return e.issues.map((i) => `${i.line ?? "-"}: ${i.member}: ${i.message}`);
  }
  throw new Error("expected the policy to be refused");
}

describe("parsing", () => {
  test("the issue's example parses as JSON, and the same rules in YAML give the same hash", () => {
    const json = parsePolicyText(ISSUE_EXAMPLE, "policy.json");
    const yaml = parsePolicyText(YAML_EXAMPLE, "policy.yaml");
    expect(json.policy.groups?.contractors?.budgets?.[0]).toEqual({ period: "day", usd: 5 });
    expect(yaml.policy.groups?.platform?.budgets?.[0]).toEqual({ period: "month", usd: 2000, pool: true });
    expect(policyHash(json.policy)).toBe(policyHash(yaml.policy));
    expect(json.warnings).toEqual([]);
  });

  test("the parsed policy is frozen: a caller cannot change the rules in force", () => {
    const { policy } = parsePolicyText(ISSUE_EXAMPLE, "policy.json");
    expect(() => (policy.groups!.contractors!.models as string[]).push("*")).toThrow();
  });

  test("a value from a config file validates the same way", () => {
    expect(validatePolicy({ groups: { a: { models: ["x"] } } }, "tenant acme's policy").policy.groups?.a?.models).toEqual(["x"]);
    expect(() => validatePolicy({ groups: { a: { models: "x" } } }, "tenant acme's policy")).toThrow(`tenant acme's policy: groups.a.models: must be a list`);
  });

  test("the format follows the file name", () => {
    expect(formatOf("/etc/p/policy.JSON")).toBe("json");
    expect(formatOf("policy.yml")).toBe("yaml");
    expect(formatOf("policy")).toBe("yaml");
  });
});

describe("errors name the member and its line", () => {
  test("a bad period", () => {
    expect(problems("groups:\n  contractors:\n    budgets:\n      - period: week\n        usd: 5\n")).toEqual([`4: groups.contractors.budgets[0].period: must be "day" or "month"`]);
  });

  test("the error message is one line with the file, line, member and problem", () => {
    const e = (() => {
      try {
        parsePolicyText("groups:\n  contractors:\n    budgets: [{period: week, usd: 5}]\n  x: {models: 3}\n", "/etc/agent-runner/policy.yaml");
      } catch (x) {
        return x as PolicyError;
      }
    })()!;
    expect(e.code).toBe("policy_invalid");
    expect(e.message).toBe(`/etc/agent-runner/policy.yaml:3: groups.contractors.budgets[0].period: must be "day" or "month" (and 1 more)`);
    expect(e.lines()).toEqual([`/etc/agent-runner/policy.yaml:3: groups.contractors.budgets[0].period: must be "day" or "month"`, "/etc/agent-runner/policy.yaml:4: groups.x.models: must be a list"]);
  });

  test("usd or tokens: exactly one", () => {
    expect(problems('{"groups": {"x": {"budgets": [{"period": "day"}, {"period": "day", "usd": 1, "tokens": 3}]}}}', "p.json")).toEqual([
      "1: groups.x.budgets[0]: needs exactly one of usd or tokens",
      "1: groups.x.budgets[1]: needs exactly one of usd or tokens",
    ]);
  });

  test("unknown fields say what is expected; pool is refused on default", () => {
    expect(problems("groups:\n  x:\n    modles: []\ndefault:\n  budgets: [{period: day, usd: 1, pool: true}]\n")).toEqual([
      "3: groups.x.modles: is not a field here (expected description, models, budgets or limits)",
      "5: default.budgets[0].pool: is for groups only: `default` is the rule of people in no listed group, who share nothing",
    ]);
  });

  test("types: YAML's yes is not a boolean, a count must be whole, limits need rpm or tpm", () => {
    expect(problems("groups:\n  x:\n    budgets: [{period: day, tokens: 1.5, soft: yes}]\n    limits: {pool: true}\n")).toEqual([
      "3: groups.x.budgets[0].tokens: must be a whole number",
      "3: groups.x.budgets[0].soft: must be true or false",
      "4: groups.x.limits: needs at least one of rpm or tpm",
    ]);
  });

  test("amounts: positive, bounded, at most micro-dollar precision", () => {
    expect(problems("groups:\n  x:\n    budgets:\n      - {period: day, usd: 0}\n      - {period: month, usd: 1.0000001}\n    limits: {rpm: 0}\n")).toEqual([
      "4: groups.x.budgets[0].usd: must be more than 0",
      "6: groups.x.limits.rpm: must be at least 1",
    ]);
    expect(problems("groups:\n  x:\n    budgets:\n      - {period: month, usd: 1.0000001}\n")).toEqual(["4: groups.x.budgets[0].usd: must have at most 6 decimals (the gateway counts micro-dollars)"]);
  });

  test("group names: no spaces or control characters; odd names are quoted in the member", () => {
    expect(problems('{"groups": {"bad name": {}, "a.b": {"models": [1]}}}', "p.json")).toEqual([
      '1: groups["bad name"]: is not a Cognito group name (1 to 128 characters, no spaces or control characters)',
      '1: groups["a.b"].models[0]: must be a string',
    ]);
  });

  test("model patterns: only model-id characters and *, so nothing reads as a regular expression", () => {
    expect(problems('groups:\n  x:\n    models: ["claude-(.*", "ok-*"]\n')).toEqual(["3: groups.x.models[0]: must be a model id or pattern: letters, digits, . _ : / @ - and * (any run of characters) only"]);
  });

  test("the top level: version 1 only, groups an object, nothing else", () => {
    expect(problems("version: 2\ngroups: []\nextra: 1\n")).toEqual([
      "3: extra: is not a field here (expected version, groups or default)",
      "1: version: must be 1",
      "2: groups: must be an object",
    ]);
    expect(problems("")).toEqual(["-: (policy): is empty: a policy is an object with `groups` and/or `default`"]);
    expect(problems("- a\n- b\n")).toEqual(["1: (policy): must be an object"]);
  });

  test("semantic: a repeated budget, and a soft budget that would never warn first", () => {
    expect(problems("groups:\n  x:\n    budgets:\n      - {period: day, usd: 5}\n      - {period: day, usd: 6}\n      - {period: day, usd: 5, soft: true}\n      - {period: day, usd: 5, pool: true}\n")).toEqual([
      "5: groups.x.budgets[1]: repeats budgets[0]: a second daily usd budget (keep one)",
      "6: groups.x.budgets[2]: the soft budget ($5) is not below the hard daily budget ($5): it would never warn before the hard one refuses",
    ]);
  });
});

describe("syntax", () => {
  test("a duplicate key is refused (JSON.parse would silently keep the last one)", () => {
    expect(problems('{"groups": {"contractors": {"models": ["*"]}, "contractors": {"models": []}}}', "p.json")).toEqual(["1: (policy): Map keys must be unique (each group and field once)"]);
    expect(problems("groups:\n  x: {}\n  x: {}\n")).toEqual(["3: (policy): Map keys must be unique (each group and field once)"]);
  });

  test("an unquoted * in YAML is an alias: the message says to quote it", () => {
    expect(problems("groups:\n  x:\n    models:\n      - *\n")).toEqual([`4: (policy): Alias cannot be an empty string (quote a model pattern that starts with *: "*" or "*-haiku-*")`]);
  });

  test("a .json file must be strict JSON", () => {
    expect(problems("{groups: {}}", "p.json")[0]).toMatch(/^-: \(policy\): is not valid JSON .*YAML belongs in a \.yaml file$/);
  });

  test("alias bombs are bounded", () => {
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`)].join("\n");
    expect(problems(bomb)[0]).toMatch(/alias/i);
  });

  test("a file over the size cap is refused before parsing", () => {
    expect(() => parsePolicyText(" ".repeat(4 * 1024 * 1024 + 1), "big.yaml")).toThrow("is larger than");
  });
});

describe("warnings: allowed, probably unintended", () => {
  test("a group without models allows every model; an empty list adds nothing; a repeated pattern", () => {
    const { warnings } = parsePolicyText('groups:\n  ops: {}\n  interns: {models: []}\n  dev: {models: ["a-*", "a-*"]}\n', "p.yaml");
    expect(warnings.map((w) => `${w.line}: ${w.member}: ${w.message}`)).toEqual([
      '2: groups.ops: has no `models`: its members may use every model (write models: ["*"] to say so)',
      "3: groups.interns.models: is empty: this group adds no model to its members' set (they get the models of their other groups)",
      '4: groups.dev.models[1]: repeats "a-*"',
    ]);
  });
});

test("member names", () => {
  expect(memberName([])).toBe("(policy)");
  expect(memberName(["groups", "contractors", "budgets", 0, "period"])).toBe("groups.contractors.budgets[0].period");
  expect(memberName(["groups", "Team A/B"])).toBe('groups["Team A/B"]');
  expect(memberName(["groups", "x".repeat(100)])).toBe(`groups["${"x".repeat(57)}..."]`);
});
