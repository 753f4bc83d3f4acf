/** docs/policy.md's worked example says what four people get: checked here against the resolver. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parsePolicyText } from "./parse.ts";
import { compilePolicy } from "./resolve.ts";
import { sourceText } from "./types.ts";

const doc = readFileSync(join(import.meta.dir, "..", "..", "..", "docs", "policy.md"), "utf8");
const example = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
const policy = compilePolicy(parsePolicyText(example, "docs/policy.md").policy);

const budgets = (groups: string[]) => policy.access(groups).budgets.map((b) => `${sourceText(b.source)} ${b.period} ${b.limit / 1e6}${b.soft ? " soft" : ""}${b.scope === "group" ? " pool" : ""}`);
const limits = (groups: string[]) => policy.access(groups).limits.map((l) => `${sourceText(l.source)} ${l.rpm}/${l.tpm}${l.scope === "group" ? " pool" : ""}`);

test("Dana (developers)", () => {
  const a = policy.access(["developers"]);
  expect(a.allowedPatterns()).toEqual(["claude-sonnet-*", "claude-haiku-*"]);
  expect(budgets(["developers"])).toEqual(["group developers month 300 soft", "group developers month 500"]);
  expect(limits(["developers"])).toEqual(["group developers 120/2000000"]);
});

test("Carl (contractors)", () => {
  expect(policy.access(["contractors"]).allowedPatterns()).toEqual(["claude-haiku-*"]);
  expect(budgets(["contractors"])).toEqual(["group contractors day 5", "group contractors month 60"]);
  expect(limits(["contractors"])).toEqual(["group contractors 30/400000"]);
});

test("Priya (developers, platform)", () => {
  const a = policy.access(["developers", "platform"]);
  expect(a.mayUse("claude-opus-4-1")).toBe(true);
  expect(budgets(["developers", "platform"])).toEqual(["group developers month 300 soft", "group developers month 500", "group platform month 2000 pool", "group platform day 100"]);
  expect(limits(["developers", "platform"])).toEqual(["group developers 120/2000000", "group platform 600/8000000 pool"]);
});

test("Sam (no listed group, or no groups at all)", () => {
  for (const groups of [[], ["eu-west-1_AbC_ExampleCorp"]]) {
    const a = policy.access(groups);
    expect(a.fromDefault).toBe(true);
    expect(a.allowedPatterns()).toEqual(["claude-haiku-*"]);
    expect(budgets(groups)).toEqual(["default day 1"]);
    expect(limits(groups)).toEqual(["default 10/undefined"]);
  }
});
