import { expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand, COMMANDS } from "../registry.ts";
import { fakeContext } from "../fake-context.ts";
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
