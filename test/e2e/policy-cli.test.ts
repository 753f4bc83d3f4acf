/**
 * `agent-runner-auth admin policy check` from the built binary (issue 18): the schema and the
 * validator are inside the executable, it works offline in an empty home, and its exit codes
 * and lines are what CI sees. The docs' worked example passes.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseEnv, isolatedHome, runCli } from "../support/cli.ts";
import { ROOT } from "../support/tenant.ts";

const dir = mkdtempSync(join(tmpdir(), "ara-policy-"));
const env = baseEnv(isolatedHome());

/** The first ```yaml block of docs/policy.md: the worked example. */
function docsExample(): string {
  const doc = readFileSync(join(ROOT, "docs", "policy.md"), "utf8");
  const block = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error("docs/policy.md has no yaml example");
  return block;
}

test("the worked example of docs/policy.md is valid: exit 0 with its hash", async () => {
  const file = join(dir, "policy.yaml");
  writeFileSync(file, docsExample());
  const r = await runCli(["admin", "policy", "check", file], env);
  expect(r.stderr).toMatch(/valid policy \(3 groups and a default rule\); hash sha256:[0-9a-f]{12}/);
  expect(r.code).toBe(0);
  const json = await runCli(["admin", "policy", "check", file, "--json"], env);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toMatchObject({ valid: true, groups: ["developers", "contractors", "platform"], default: true });
});

test("a bad period: exit 2, the file, line and member on stderr, nothing on stdout", async () => {
  const file = join(dir, "bad.yaml");
  writeFileSync(file, "groups:\n  contractors:\n    models: [\"claude-haiku-*\"]\n    budgets:\n      - period: week\n        usd: 5\n");
  const r = await runCli(["admin", "policy", "check", file], env);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.trim()).toBe(`agent-runner-auth: ${file}:5: groups.contractors.budgets[0].period: must be "day" or "month"`);
});

test("no file, or two: exit 2 with the usage", async () => {
  expect((await runCli(["admin", "policy", "check", join(dir, "missing.yaml")], env)).stderr).toContain("no policy file at");
  expect((await runCli(["admin", "policy", "check"], env)).code).toBe(2);
  expect((await runCli(["admin", "policy", "frobnicate"], env)).code).toBe(2);
  // show and explain ask the gateway: without a profile or --admin-key-file there is none to ask
  const show = await runCli(["admin", "policy", "show"], env);
  expect(show.code).toBe(1);
  expect(show.stderr).toContain("login");
  expect((await runCli(["admin", "policy", "explain"], env)).code).toBe(2); // --user is required
});
