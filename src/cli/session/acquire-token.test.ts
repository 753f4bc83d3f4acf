/**
 * acquireToken over the fake context: the same rules for every caller, and issue 21's steps when
 * the gateway is asked first (a refused token never handed out again, one refresh, a sign-in only
 * where one may open and would help, the refresh token always kept).
 */
import { describe, expect, test } from "bun:test";
import { accessRecord, fakeContext, NOW, PROFILE, refreshRecord } from "../../../test/support/fake-context.ts";
import type { TokenAcceptance } from "../gateway/client.ts";
import { AccessRefusedError, acquireToken, PERSON_REVOKED, SESSION_REVOKED } from "./acquire-token.ts";
import { RefreshRejected } from "../errors.ts";

const HOUR = 3_600_000;
let n = 0;
const refreshed = async () => ({ accessToken: `refreshed-${++n}`, expiresIn: 3600 });
const signedIn = async () => ({ accessToken: `signed-in-${++n}`, expiresIn: 3600, refreshToken: "rt-new" });

/** A gateway that refuses the tokens in `refused` (with `reason`), accepts the rest, and records what it was asked. */
function gateway(refused: (token: string) => boolean, reason: string | null = SESSION_REVOKED) {
  const asked: string[] = [];
  const confirm = async (token: string): Promise<TokenAcceptance> => {
    asked.push(token);
    return refused(token) ? { verdict: "refused", reason } : { verdict: "accepted" };
  };
  return { asked, confirm };
}

function session(options: { blocker?: string | null; access?: string | null } = {}) {
  const fake = fakeContext({ blocker: options.blocker === undefined ? "$CI is set" : options.blocker, oauth: { refreshTokens: refreshed, signIn: signedIn } });
  if (options.access !== null) fake.stores.file.values.set("access", accessRecord(options.access ?? "cached", NOW + HOUR / 2));
  fake.stores.file.values.set("refresh", refreshRecord("rt"));
  return fake;
}
const store = (fake: ReturnType<typeof session>) => fake.stores.file;
const stored = (fake: ReturnType<typeof session>, name: "access" | "refresh") => JSON.parse(store(fake).values.get(name) ?? "null")?.token ?? null;

describe("the same rules for every caller", () => {
  test("a fresh stored token: no lock, no IdP, served from the cache", async () => {
    const fake = session();
    const served = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 5 * 60_000, loginBlocker: "$CI is set" });
    expect(served).toMatchObject({ access: { token: "cached" }, source: "cache" });
    expect(fake.locks).toBe(0);
    expect(fake.calls).toEqual([]);
  });

  test("the validity decides: a token good for 30 min is refreshed when 45 min are asked", async () => {
    const fake = session();
    const served = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 45 * 60_000, loginBlocker: "$CI is set" });
    expect(served.source).toBe("refresh");
    expect(fake.calls).toEqual(["refreshTokens"]);
  });

  test("a blocker means no browser: a dead session is the not-logged-in error naming the reason", async () => {
    const fake = fakeContext({ oauth: { refreshTokens: async () => Promise.reject(new RefreshRejected("invalid_grant")) } });
    fake.stores.file.values.set("refresh", refreshRecord("dead"));
    const error = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: "doctor never opens a browser" }).catch((e: unknown) => e);
    expect((error as Error).message).toContain("doctor never opens a browser");
    expect(fake.calls).toEqual(["refreshTokens"]);
  });
});

describe("asking the gateway first (issue 21)", () => {
  test("accepted, or the gateway cannot be asked: the token is served as it is", async () => {
    const fake = session();
    const g = gateway(() => false);
    expect((await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: "$CI is set", confirm: g.confirm })).access.token).toBe("cached");
    expect(g.asked).toEqual(["cached"]);
    const unknown = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: "$CI is set", confirm: async () => ({ verdict: "unknown", why: "timeout" }) });
    expect(unknown.access.token).toBe("cached");
    expect(fake.calls).toEqual([]);
  });

  test("a refused stored token is dropped and one refresh is tried; the refreshed token, accepted, is served", async () => {
    const fake = session();
    const g = gateway((t) => t === "cached");
    const served = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: "$CI is set", confirm: g.confirm });
    expect(served.source).toBe("refresh");
    expect(g.asked).toEqual(["cached", served.access.token]);
    expect(stored(fake, "access")).toBe(served.access.token);
    expect(stored(fake, "refresh")).toBe("rt");
  });

  test("the refreshed token refused too, no browser possible: AccessRefusedError (exit 1, one line), the refresh token kept, no refused token kept", async () => {
    const fake = session();
    const g = gateway(() => true, SESSION_REVOKED);
    const error = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: "$CI is set", confirm: g.confirm }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessRefusedError);
    expect((error as AccessRefusedError).exitCode).toBe(1);
    expect((error as AccessRefusedError).hint).toBeUndefined();
    expect((error as AccessRefusedError).message).toBe("access was revoked at the gateway (this session was signed out or revoked); run 'agent-runner-auth login'");
    expect(g.asked).toHaveLength(2);
    expect(fake.calls).toEqual(["refreshTokens"]);
    expect(store(fake).values.has("access")).toBe(false);
    expect(stored(fake, "refresh")).toBe("rt");
  });

  test("the refresh fails: the same one line, and the refresh token kept (the IdP did not say it is dead)", async () => {
    const fake = session();
    fake.ctx.oauth.refreshTokens = async () => Promise.reject(new Error("connection refused"));
    const error = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: "$CI is set", confirm: gateway(() => true, null).confirm }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessRefusedError);
    expect((error as Error).message).toBe("access was revoked at the gateway (it refuses this session's tokens); run 'agent-runner-auth login'");
    expect(store(fake).values.has("access")).toBe(false);
    expect(stored(fake, "refresh")).toBe("rt");
  });

  test("with a terminal and a display: a browser sign-in, as for an expired session; its token, accepted, is served", async () => {
    const fake = session({ blocker: null });
    const g = gateway((t) => !t.startsWith("signed-in-"));
    const served = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: null, confirm: g.confirm });
    expect(served.source).toBe("sign-in");
    expect(fake.calls).toEqual(["refreshTokens", "signIn"]);
    expect(stored(fake, "refresh")).toBe("rt-new");
  });

  test("the person's access withdrawn: no browser opens even where one may (signing in would not help)", async () => {
    const fake = session({ blocker: null });
    const error = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: null, confirm: gateway(() => true, PERSON_REVOKED).confirm }).catch((e: unknown) => e);
    expect((error as Error).message).toContain("an administrator withdrew it, so signing in again will not help");
    expect(fake.calls).toEqual(["refreshTokens"]);
    expect(stored(fake, "refresh")).toBe("rt");
  });

  test("a just-refreshed token refused (nothing stored was fresh): no second refresh, the error", async () => {
    const fake = session({ access: null });
    const g = gateway(() => true);
    const error = await acquireToken(fake.ctx, PROFILE, store(fake), { validityMs: 0, loginBlocker: "$CI is set", confirm: g.confirm }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessRefusedError);
    expect(fake.calls).toEqual(["refreshTokens"]);
    expect(g.asked).toHaveLength(1);
  });
});
