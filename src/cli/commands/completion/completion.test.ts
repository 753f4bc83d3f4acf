import { expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand, COMMANDS } from "../registry.ts";
import { fakeContext } from "../../../../test/support/fake-context.ts";
import { parseOptions, run } from "./completion.ts";

const options = (argv: string[]) => parseOptions(parseArgs(argv, findCommand("completion")!.options, "completion"), {});

test("each shell's script names every command, on stdout", async () => {
  for (const shell of ["bash", "zsh", "fish", "powershell"]) {
    const fake = fakeContext();
    expect(await run(fake.ctx, options([shell]))).toBe(0);
    const script = fake.stdout.join("");
    for (const c of COMMANDS) expect(script).toContain(c.name);
    expect(fake.stderr).toEqual([]);
  }
  const bash = fakeContext();
  await run(bash.ctx, options(["bash"]));
  expect(bash.stdout.join("")).toContain("complete -F _agent_runner_auth agent-runner-auth");
});

test("an unknown shell, none, or an inherited property name is a usage error", () => {
  for (const argv of [[], ["tcsh"], ["bash", "zsh"], ["constructor"], ["toString"]]) expect(() => options(argv)).toThrow("usage: agent-runner-auth completion");
});

test("bash: command groups complete word by word (admin -> budget -> set -> its options), checked by a real bash", () => {
  const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
  const { bash } = require("./completion.ts") as typeof import("./completion.ts");
  const script = `${bash()}
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _agent_runner_auth; echo "\${COMPREPLY[*]}"; }
t agent-runner-auth ad
t agent-runner-auth admin ""
t agent-runner-auth admin budget ""
t agent-runner-auth admin budget set --us
t agent-runner-auth usage --st
`;
  const out = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  expect(out.stderr).toBe("");
  expect(out.stdout.split("\n").slice(0, 5)).toEqual(["admin", "usage budget limit revoke restore revocations audit policy", "set clear list", "--user --usd", "--status-line --store"]);
});

test("bash: a command's word first (setup -> claude claude-desktop), then its options; option values from the table", () => {
  const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
  const { bash } = require("./completion.ts") as typeof import("./completion.ts");
  const script = `${bash()}
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _agent_runner_auth; echo "\${COMPREPLY[*]}"; }
t agent-runner-auth setup ""
t agent-runner-auth setup --m
t agent-runner-auth setup claude-desktop --m
t agent-runner-auth setup claude-desktop --mdm ""
t agent-runner-auth token --format ""
t agent-runner-auth env --shell f
t agent-runner-auth login --s
t agent-runner-auth doctor --d
t agent-runner-auth exec --p
`;
  const out = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  expect(out.stderr).toBe("");
  expect(out.stdout.split("\n").slice(0, 9)).toEqual(["claude claude-desktop", "--mcp-server --mdm", "--mcp-server --mdm", "macos windows", "bare desktop headers", "fish", "--store --scope --switch-user", "--deep", "--profile"]);
});
