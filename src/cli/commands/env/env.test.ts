import { describe, expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand } from "../registry.ts";
import { UsageError } from "../../errors.ts";
import { accessRecord, fakeContext, NOW, PROFILE } from "../../../../test/support/fake-context.ts";
import { parseOptions, run } from "./env.ts";

const options = (argv: string[], env: Record<string, string> = {}) => parseOptions(parseArgs(argv, findCommand("env")!.options, "env"), env);

describe("env", () => {
  test("--shell, else $SHELL's name; a bad value is a usage error", () => {
    expect(options(["--shell", "fish"]).shell).toBe("fish");
    expect(options(["--shell", "pwsh"]).shell).toBe("powershell");
    expect(options([], { SHELL: "/usr/bin/zsh" }).shell).toBe("zsh");
    expect(() => options(["--shell", "tcsh"])).toThrow(UsageError);
  });

  test("prints the eval lines (unset the API key, export base URL and token) on stdout; validity on stderr", async () => {
    const fake = fakeContext();
    fake.stores.file.values.set("access", accessRecord("tok.en-1", NOW + 45 * 60_000));
    expect(await run(fake.ctx, options(["--shell", "sh"]))).toBe(0);
    expect(fake.stdout.join("")).toBe(`unset ANTHROPIC_API_KEY;\nexport ANTHROPIC_BASE_URL='${PROFILE.tenant}/anthropic/v1';\nexport ANTHROPIC_AUTH_TOKEN='tok.en-1';\n`);
    expect(fake.stderr).toEqual([expect.stringContaining("token valid for 45 min")]);
  });

  test("fish and PowerShell syntax", async () => {
    for (const [shell, expected] of [
      ["fish", "set -gx ANTHROPIC_AUTH_TOKEN 'tok';"],
      ["powershell", "$env:ANTHROPIC_AUTH_TOKEN = 'tok'"],
    ] as const) {
      const fake = fakeContext();
      fake.stores.file.values.set("access", accessRecord("tok", NOW + 45 * 60_000));
      await run(fake.ctx, options(["--shell", shell]));
      expect(fake.stdout.join("")).toContain(expected);
    }
  });
});
