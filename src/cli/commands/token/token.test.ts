import { describe, expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand } from "../registry.ts";
import { AuthRequiredError, exitCodeOf, IdpUnavailableError, RefreshRejected } from "../../errors.ts";
import { accessRecord, fakeContext, NOW, refreshRecord } from "../../../../test/support/fake-context.ts";
import { DEFAULT_MIN_VALIDITY_MS, HELPER_TTL_MARGIN_MS, parseOptions, requestedValidityMs, run } from "./token.ts";

const options = (argv: string[] = [], env: Record<string, string> = {}) => parseOptions(parseArgs(argv, findCommand("token")!.options, "token"), env);
const tokens = { accessToken: "new-access", expiresIn: 3600, refreshToken: "new-refresh" };

describe("token", () => {
  test("cached: a fresh token goes to stdout; no lock, no IdP", async () => {
    const fake = fakeContext();
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    expect(await run(fake.ctx, options())).toBe(0);
    expect(fake.stdout).toEqual(["cached-access"]);
    expect(fake.locks).toBe(0);
    expect(fake.calls).toEqual([]);
  });

  test("refresh: a token valid for less than --min-validity is refreshed, stored and printed", async () => {
    const fake = fakeContext({ oauth: { refreshTokens: async (_p, refresh) => (refresh === "old-refresh" ? tokens : Promise.reject(new Error("wrong token"))) } });
    fake.stores.file.values.set("access", accessRecord("old-access", NOW + 2 * 60_000));
    fake.stores.file.values.set("refresh", refreshRecord("old-refresh"));
    expect(await run(fake.ctx, options(["--min-validity", "5m"]))).toBe(0);
    expect(fake.stdout).toEqual(["new-access"]);
    expect(fake.calls).toEqual(["refreshTokens"]);
    expect(fake.locks).toBe(1);
    expect(JSON.parse(fake.stores.file.values.get("refresh")!).token).toBe("new-refresh");
  });

  test("the helper TTL raises the validity: a token good for 10 min is refreshed for a 55 min TTL", async () => {
    const fake = fakeContext({ oauth: { refreshTokens: async () => tokens } });
    fake.stores.file.values.set("access", accessRecord("old-access", NOW + 10 * 60_000, 3_600_000));
    fake.stores.file.values.set("refresh", refreshRecord("r"));
    await run(fake.ctx, options([], { CLAUDE_CODE_API_KEY_HELPER_TTL_MS: String(55 * 60_000) }));
    expect(fake.stdout).toEqual(["new-access"]);
  });

  test("non-interactive: nothing stored and no browser possible is exit 1 with the command to run, at once", async () => {
    const fake = fakeContext({ blocker: "$CI is set" });
    const error = await run(fake.ctx, options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthRequiredError);
    expect(exitCodeOf(error)).toBe(1);
    expect((error as AuthRequiredError).message).toBe("you are not logged in, and a browser login is not possible here ($CI is set)");
    expect((error as AuthRequiredError).hint).toBe("Run: agent-runner-auth login");
    expect(fake.stdout).toEqual([]);
    expect(fake.locks).toBe(0);
  });

  test("a rejected refresh token deletes the session; an unreachable IdP keeps it", async () => {
    const rejected = fakeContext({ oauth: { refreshTokens: async () => Promise.reject(new RefreshRejected("invalid_grant")) } });
    rejected.stores.file.values.set("refresh", refreshRecord("dead"));
    expect(exitCodeOf(await run(rejected.ctx, options()).catch((e: unknown) => e))).toBe(1);
    expect(rejected.stores.file.values.size).toBe(0);

    const down = fakeContext({ oauth: { refreshTokens: async () => Promise.reject(new IdpUnavailableError("cannot reach the identity provider")) } });
    down.stores.file.values.set("refresh", refreshRecord("alive"));
    expect(exitCodeOf(await run(down.ctx, options()).catch((e: unknown) => e))).toBe(3);
    expect(JSON.parse(down.stores.file.values.get("refresh")!).token).toBe("alive");
  });

  test("CLAUDE_CODE_API_KEY_HELPER_TTL_MS raises the requested validity to TTL + margin", () => {
    expect(requestedValidityMs(undefined, undefined)).toBe(DEFAULT_MIN_VALIDITY_MS);
    expect(requestedValidityMs(undefined, "3300000")).toBe(3_300_000 + HELPER_TTL_MARGIN_MS);
    expect(requestedValidityMs("90m", "60000")).toBe(90 * 60_000);
    expect(() => requestedValidityMs(undefined, "soon")).toThrow("CLAUDE_CODE_API_KEY_HELPER_TTL_MS must be a number");
  });

  test("options: bad durations and TTLs are usage errors (exit 2)", () => {
    expect(() => options(["--min-validity", "soon"])).toThrow("--min-validity must be a duration");
    expect(() => options([], { CLAUDE_CODE_API_KEY_HELPER_TTL_MS: "x" })).toThrow("CLAUDE_CODE_API_KEY_HELPER_TTL_MS must be a number");
    expect(options(["--timeout", "2m"]).loginTimeoutMs).toBe(120_000);
  });
});
