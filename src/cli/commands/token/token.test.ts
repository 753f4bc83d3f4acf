import { describe, expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand } from "../registry.ts";
import { AuthRequiredError, exitCodeOf, IdpUnavailableError, RefreshRejected } from "../../errors.ts";
import { accessRecord, fakeContext, memoryGatewayPort, NOW, refreshRecord } from "../../../../test/support/fake-context.ts";
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

describe("a token handed out moments ago is checked with the gateway first (issue 21)", () => {
  /** The gateway's session endpoint: 401 (with the reason header) for tokens in `refused`, 200 otherwise. */
  function gateway(refused: Set<string>, reason?: string) {
    const asked: string[] = [];
    const port = memoryGatewayPort({
      http: async (url, init) => {
        expect(url).toBe("https://acme.proxy.example.com/_gateway/v1/session");
        const token = String((init.headers as Record<string, string>).authorization).replace(/^Bearer /, "");
        asked.push(token);
        return refused.has(token) ? new Response("{}", { status: 401, headers: reason ? { "x-agent-runner-reason": reason } : {} }) : Response.json({ active: true });
      },
    });
    return { asked, port };
  }

  test("the cached path records the hand-out and asks nobody; a re-run within 60 s asks the gateway, which accepts", async () => {
    const g = gateway(new Set());
    const fake = fakeContext({ gateway: g.port });
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    expect(await run(fake.ctx, options())).toBe(0);
    expect(g.asked).toEqual([]);
    expect(fake.handouts.get("default")).toEqual({ printedAt: NOW });
    expect(await run(fake.ctx, options())).toBe(0);
    expect(g.asked).toEqual(["cached-access"]);
    expect(fake.stdout).toEqual(["cached-access", "cached-access"]);
  });

  test("a hand-out over 60 s ago: the cached path, nothing asked", async () => {
    const g = gateway(new Set(["cached-access"]));
    const fake = fakeContext({ gateway: g.port });
    fake.handouts.set("default", { printedAt: NOW - 61_000 });
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    expect(await run(fake.ctx, options(["--format", "headers"]))).toBe(0);
    expect(g.asked).toEqual([]);
  });

  test("refused: dropped, refreshed, the new token printed (desktop form); refused again: exit 1, one line, the refusal recorded", async () => {
    const refused = new Set(["cached-access"]);
    const g = gateway(refused, "session_revoked");
    const fake = fakeContext({ gateway: g.port, oauth: { refreshTokens: async () => tokens } });
    fake.handouts.set("default", { printedAt: NOW - 5_000 });
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    fake.stores.file.values.set("refresh", refreshRecord("old-refresh"));
    expect(await run(fake.ctx, options(["--format", "desktop"]))).toBe(0);
    expect(JSON.parse(fake.stdout[0]!)).toMatchObject({ token: "new-access" });
    expect(g.asked).toEqual(["cached-access", "new-access"]);

    refused.add("new-access");
    const error = await run(fake.ctx, options()).catch((e: unknown) => e);
    expect(exitCodeOf(error)).toBe(1);
    expect((error as Error).message).toBe("access was revoked at the gateway (this session was signed out or revoked); run 'agent-runner-auth login'");
    expect((error as AuthRequiredError).hint).toBeUndefined();
    expect(fake.handouts.get("default")).toMatchObject({ refusedAt: NOW });
    expect(JSON.parse(fake.stores.file.values.get("refresh")!).token).toBe("new-refresh");
    expect(fake.stdout).toHaveLength(1);
  });

  test("after a refusal, even a late run asks first; an unreachable gateway changes nothing", async () => {
    const fake = fakeContext({ gateway: memoryGatewayPort({ http: async () => Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })) }) });
    fake.handouts.set("default", { printedAt: NOW - 3_600_000, refusedAt: NOW - 3_000_000 });
    fake.stores.file.values.set("access", accessRecord("cached-access", NOW + 30 * 60_000));
    expect(await run(fake.ctx, options())).toBe(0);
    expect(fake.stdout).toEqual(["cached-access"]);
    expect(fake.handouts.get("default")).toEqual({ printedAt: NOW });
  });
});
