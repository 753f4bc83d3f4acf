import { describe, expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand } from "../registry.ts";
import { exitCodeOf, UsageError } from "../../errors.ts";
import { accessRecord, fakeContext, NOW, PROFILE, refreshRecord } from "../../../../test/support/fake-context.ts";
import { parseOptions, run } from "./exec.ts";
import type { ChildRunner } from "./child.ts";

const options = (argv: string[]) => parseOptions(parseArgs(argv, findCommand("exec")!.options, "exec"), {});

function recorder(end: Awaited<ReturnType<ChildRunner>> = { kind: "exited", exitCode: 0 }) {
  const calls: { command: string; args: string[]; env: Record<string, string> }[] = [];
  const runner: ChildRunner = async (command, args, env) => {
    calls.push({ command, args, env });
    return end;
  };
  return { calls, runner };
}

describe("exec", () => {
  test("parses the command after --, options before it", () => {
    expect(options(["--profile", "x", "--", "node", "--flag", "a"])).toEqual({ store: undefined, command: "node", args: ["--flag", "a"] });
    expect(() => options([])).toThrow(UsageError);
  });

  test("the child gets the base URL and the cached token, ANTHROPIC_API_KEY removed; nothing on stdout; stderr says how long it lives", async () => {
    const fake = fakeContext({ env: { ANTHROPIC_API_KEY: "sk-ant-old", PATH: "/bin" } });
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    const child = recorder({ kind: "exited", exitCode: 7 });
    expect(await run(fake.ctx, options(["--", "tool", "x"]), child.runner)).toBe(7);
    expect(child.calls).toEqual([{ command: "tool", args: ["x"], env: { PATH: "/bin", ANTHROPIC_BASE_URL: `${PROFILE.tenant}/anthropic/v1`, ANTHROPIC_AUTH_TOKEN: "cached-access" } }]);
    expect(fake.stdout).toEqual([]);
    expect(fake.stderr.join("\n")).toContain("token valid for 30 min");
    expect(fake.calls).toEqual([]);
  });

  test("a token about to expire is refreshed first (the same rules as token)", async () => {
    const fake = fakeContext({ oauth: { refreshTokens: async () => ({ accessToken: "new-access", expiresIn: 3600, refreshToken: "r2" }) } });
    fake.stores.file.values.set("access", accessRecord("old", NOW + 60_000));
    fake.stores.file.values.set("refresh", refreshRecord("r1"));
    const child = recorder();
    expect(await run(fake.ctx, options(["--", "tool"]), child.runner)).toBe(0);
    expect(child.calls[0]!.env.ANTHROPIC_AUTH_TOKEN).toBe("new-access");
    expect(fake.stderr.join("\n")).toContain("token valid for 60 min");
  });

  test("not logged in and no browser possible: exit 1 naming login; the child never runs", async () => {
    const fake = fakeContext();
    const child = recorder();
    const error = await run(fake.ctx, options(["--", "tool"]), child.runner).catch((e) => e);
    expect(exitCodeOf(error)).toBe(1);
    expect(error.hint).toContain("agent-runner-auth login");
    expect(child.calls).toEqual([]);
  });

  test("a command that cannot start: 127 and one line naming it", async () => {
    const fake = fakeContext();
    fake.stores.file.values.set("access", accessRecord("a", NOW + 30 * 60_000));
    const child = recorder({ kind: "spawn-failed", errorCode: "ENOENT", exitCode: 127 });
    expect(await run(fake.ctx, options(["--", "no-such-tool"]), child.runner)).toBe(127);
    expect(fake.stderr.at(-1)).toBe('agent-runner-auth: "no-such-tool": command not found');
  });

  test("a profile without a tenant URL: config error, exit 5", async () => {
    const fake = fakeContext({ profile: { ...PROFILE, tenant: undefined } });
    fake.stores.file.values.set("access", accessRecord("a", NOW + 30 * 60_000));
    const error = await run(fake.ctx, options(["--", "tool"]), recorder().runner).catch((e) => e);
    expect(exitCodeOf(error)).toBe(5);
  });
});
