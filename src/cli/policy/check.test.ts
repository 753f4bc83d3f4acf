import { expect, test } from "bun:test";
import { ExitCode, exitCodeOf } from "../errors.ts";
import { checkPolicy, type PolicyCheckPorts } from "./check.ts";

const GOOD = `groups:
  contractors:
    models: ["claude-haiku-*"]
    budgets: [{ period: day, usd: 5 }]
  ops: {}
default:
  models: ["claude-haiku-*"]
`;

function ports(files: Record<string, string>) {
  const out = { stdout: [] as string[], stderr: [] as string[] };
  const p: PolicyCheckPorts = { readText: (path) => files[path] ?? null, stdout: (t) => out.stdout.push(t), say: (l) => out.stderr.push(l) };
  return { p, out };
}

const failure = (run: () => unknown) => {
  try {
    run();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a failure");
};

test("a valid file: exit 0, warnings and a confirmation with the hash on stderr, nothing on stdout", () => {
  const { p, out } = ports({ "policy.yaml": GOOD });
  expect(checkPolicy(p, { file: "policy.yaml", json: false })).toBe(0);
  expect(out.stdout).toEqual([]);
  expect(out.stderr[0]).toBe('policy.yaml:5: warning: groups.ops: has no `models`: its members may use every model (write models: ["*"] to say so)');
  expect(out.stderr[1]).toMatch(/^policy\.yaml: valid policy \(2 groups and a default rule\); hash sha256:[0-9a-f]{12}$/);
});

test("--json: the result on stdout, with the full hash", () => {
  const { p, out } = ports({ "policy.yaml": GOOD });
  expect(checkPolicy(p, { file: "policy.yaml", json: true })).toBe(0);
  const result = JSON.parse(out.stdout.join(""));
  expect(result).toMatchObject({ file: "policy.yaml", valid: true, groups: ["contractors", "ops"], default: true, errors: [] });
  expect(result.hash).toMatch(/^[0-9a-f]{64}$/);
  expect(result.warnings).toHaveLength(1);
});

test("one problem: exit 2, the message names the file, line and member", () => {
  const { p, out } = ports({ "p.yaml": "groups:\n  contractors:\n    budgets: [{period: week, usd: 5}]\n" });
  const e = failure(() => checkPolicy(p, { file: "p.yaml", json: false }));
  expect(exitCodeOf(e)).toBe(ExitCode.usage);
  expect(e.message).toBe('p.yaml:3: groups.contractors.budgets[0].period: must be "day" or "month"');
  expect(out.stderr).toEqual([]);
});

test("several problems: each on its own line, then exit 2 counting them; --json lists them on stdout", () => {
  const text = "groups:\n  a: {models: 1}\n  b: {limits: {}}\n";
  const { p, out } = ports({ "p.yaml": text });
  const e = failure(() => checkPolicy(p, { file: "p.yaml", json: false }));
  expect(out.stderr).toEqual(["p.yaml:2: groups.a.models: must be a list", "p.yaml:3: groups.b.limits: needs at least one of rpm or tpm"]);
  expect(e.message).toBe("p.yaml is not a valid policy: 2 problems (above)");
  expect(exitCodeOf(e)).toBe(ExitCode.usage);
  const json = ports({ "p.yaml": text });
  expect(exitCodeOf(failure(() => checkPolicy(json.p, { file: "p.yaml", json: true })))).toBe(ExitCode.usage);
  expect(JSON.parse(json.out.stdout.join(""))).toEqual({
    file: "p.yaml",
    valid: false,
    warnings: [],
    errors: [
      { member: "groups.a.models", message: "must be a list", line: 2 },
      { member: "groups.b.limits", message: "needs at least one of rpm or tpm", line: 3 },
    ],
  });
});

test("a missing or unreadable file: exit 2 naming it", () => {
  const { p } = ports({});
  const missing = failure(() => checkPolicy(p, { file: "nope.yaml", json: false }));
  expect(missing.message).toBe("no policy file at nope.yaml");
  expect(exitCodeOf(missing)).toBe(ExitCode.usage);
  const broken = failure(() => checkPolicy({ ...p, readText: () => { throw new Error("EISDIR: illegal operation on a directory"); } }, { file: "/etc", json: false }));
  expect(broken.message).toBe("cannot read the policy file /etc: EISDIR: illegal operation on a directory");
});

test("hostile text never reaches the terminal raw", () => {
  const { p, out } = ports({ "p.json": '{"groups": {"a\\u001b[2J": {}, "b": {"models": 1}}}' });
  failure(() => checkPolicy(p, { file: "p.json", json: false }));
  for (const line of out.stderr) expect(line).not.toMatch(/\u001b/);
});
