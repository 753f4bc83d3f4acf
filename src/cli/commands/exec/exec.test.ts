import { describe, expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand } from "../registry.ts";
import { exitCodeOf, UsageError } from "../../errors.ts";
import { accessRecord, fakeContext, NOW, PROFILE, refreshRecord } from "../../../../test/support/fake-context.ts";
import { parseOptions, run } from "./exec.ts";
import type { ForwarderOptions } from "../../surfaces/keep-fresh.ts";
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
    expect(options(["--profile", "x", "--", "node", "--flag", "a"])).toEqual({ store: undefined, keepFresh: false, command: "node", args: ["--flag", "a"] });
    expect(options(["--keep-fresh", "--", "node"])).toMatchObject({ keepFresh: true, command: "node" });
    expect(() => options([])).toThrow(UsageError);
  });

  test("the child gets the base URL and the cached token, ANTHROPIC_API_KEY removed; nothing on stdout; stderr says how long it lives", async () => {
    const fake = fakeContext({ env: { ANTHROPIC_API_KEY: "sk-ant-old", PATH: "/bin" } });
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    const child = recorder({ kind: "exited", exitCode: 7 });
    expect(await run(fake.ctx, options(["--", "tool", "x"]), { runChild: child.runner })).toBe(7);
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
    expect(await run(fake.ctx, options(["--", "tool"]), { runChild: child.runner })).toBe(0);
    expect(child.calls[0]!.env.ANTHROPIC_AUTH_TOKEN).toBe("new-access");
    expect(fake.stderr.join("\n")).toContain("token valid for 60 min");
  });

  test("not logged in and no browser possible: exit 1 naming login; the child never runs", async () => {
    const fake = fakeContext();
    const child = recorder();
    const error = await run(fake.ctx, options(["--", "tool"]), { runChild: child.runner }).catch((e) => e);
    expect(exitCodeOf(error)).toBe(1);
    expect(error.hint).toContain("agent-runner-auth login");
    expect(child.calls).toEqual([]);
  });

  test("a command that cannot start: 127 and one line naming it", async () => {
    const fake = fakeContext();
    fake.stores.file.values.set("access", accessRecord("a", NOW + 30 * 60_000));
    const child = recorder({ kind: "spawn-failed", errorCode: "ENOENT", exitCode: 127 });
    expect(await run(fake.ctx, options(["--", "no-such-tool"]), { runChild: child.runner })).toBe(127);
    expect(fake.stderr.at(-1)).toBe('agent-runner-auth: "no-such-tool": command not found');
  });

  test("a profile without a tenant URL: config error, exit 5", async () => {
    const fake = fakeContext({ profile: { ...PROFILE, tenant: undefined } });
    fake.stores.file.values.set("access", accessRecord("a", NOW + 30 * 60_000));
    const error = await run(fake.ctx, options(["--", "tool"]), { runChild: recorder().runner }).catch((e) => e);
    expect(exitCodeOf(error)).toBe(5);
  });

  test("--keep-fresh: the child talks to the forwarder with its secret; each request's token comes from the session; the forwarder ends with the child", async () => {
    const sent: { url: string; profile: unknown }[] = [];
    const fake = fakeContext({
      env: { ANTHROPIC_API_KEY: "sk-ant-old" },
      oauth: {
        refreshTokens: async () => ({ accessToken: "refreshed", expiresIn: 3600 }),
        stream: async (url, _init, profile) => (sent.push({ url, profile }), new Response("ok")),
      },
    });
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    fake.stores.file.values.set("refresh", refreshRecord("r1"));
    let given: ForwarderOptions | undefined;
    let closed = 0;
    const startForwarder = (o: ForwarderOptions) => ((given = o), { origin: "http://127.0.0.1:4567", secret: "ara-local-secret", close: () => void closed++ });
    const child = recorder({ kind: "exited", exitCode: 3 });
    expect(await run(fake.ctx, options(["--keep-fresh", "--", "job"]), { runChild: child.runner, startForwarder })).toBe(3);
    expect(child.calls[0]!.env).toEqual({ ANTHROPIC_BASE_URL: "http://127.0.0.1:4567/anthropic/v1", ANTHROPIC_AUTH_TOKEN: "ara-local-secret" });
    expect(closed).toBe(1);
    expect(given!.tenantUrl).toBe(PROFILE.tenant!);
    expect(await given!.accessToken()).toBe("cached-access");
    await given!.send(`${PROFILE.tenant}/anthropic/v1/v1/models`, {});
    expect(sent).toEqual([{ url: `${PROFILE.tenant}/anthropic/v1/v1/models`, profile: PROFILE }]); // with the profile's CA trust
    expect(fake.stderr.join("\n")).toContain("each with a fresh token");
    // a stored token that expires within the minute a forwarded request needs: refreshed once (single flight), then from memory
    const fresh = fakeContext({ oauth: { refreshTokens: async () => ({ accessToken: "refreshed", expiresIn: 3600 }) } });
    fresh.stores.file.values.set("access", accessRecord("expiring", NOW + 30_000));
    fresh.stores.file.values.set("refresh", refreshRecord("r1"));
    const again = recorder();
    await run(fresh.ctx, options(["--keep-fresh", "--", "job"]), { runChild: again.runner, startForwarder });
    expect(await Promise.all([given!.accessToken(), given!.accessToken(), given!.accessToken()])).toEqual(["refreshed", "refreshed", "refreshed"]);
    expect(await given!.accessToken()).toBe("refreshed");
    expect(fresh.calls).toEqual(["refreshTokens"]);
  });

  test("--keep-fresh: the forwarder is closed even when the child cannot start", async () => {
    const fake = fakeContext();
    fake.stores.file.values.set("access", accessRecord("a", NOW + 30 * 60_000));
    let closed = 0;
    const startForwarder = () => ({ origin: "http://127.0.0.1:1", secret: "s", close: () => void closed++ });
    const runChild: ChildRunner = async () => Promise.reject(new Error("spawn exploded"));
    await expect(run(fake.ctx, options(["--keep-fresh", "--", "job"]), { runChild, startForwarder })).rejects.toThrow("spawn exploded");
    expect(closed).toBe(1);
  });
});
