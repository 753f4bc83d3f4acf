import { describe, expect, test } from "bun:test";
import { AuthRequiredError, CliError } from "../errors.ts";
import { fakeContext, NOW, PROFILE } from "../../../test/support/fake-context.ts";
import { cooldownBlocker, LOGIN_COOLDOWN_MS, recordedLogin, type AttemptRecords, type LoginAttempt } from "./login-cooldown.ts";
import { automaticLogin, browserLogin, DEFAULT_LOGIN_TIMEOUT_MS } from "./interactive-login.ts";

const TIMEOUT = 5 * 60_000;

describe("the cool-down", () => {
  test("no record, or an attempt still within its timeout: go ahead", () => {
    expect(cooldownBlocker(null, NOW, TIMEOUT)).toBeNull();
    expect(cooldownBlocker({ startedAt: NOW - 60_000 }, NOW, TIMEOUT)).toBeNull();
  });
  test("a failed attempt blocks for the cool-down after it ended, then not", () => {
    const attempt: LoginAttempt = { startedAt: NOW - 60_000, failedAt: NOW - 30_000, reason: "the sign-in was not completed within 300 s" };
    expect(cooldownBlocker(attempt, NOW, TIMEOUT)).toBe("an automatic sign-in was not completed (the sign-in was not completed within 300 s), so the browser is not opened again for 10 min");
    expect(cooldownBlocker(attempt, attempt.failedAt! + LOGIN_COOLDOWN_MS - 1, TIMEOUT)).toContain("for 1 min");
    expect(cooldownBlocker(attempt, attempt.failedAt! + LOGIN_COOLDOWN_MS, TIMEOUT)).toBeNull();
  });
  test("an attempt that never recorded its end (killed) counts as failed once its timeout passed", () => {
    expect(cooldownBlocker({ startedAt: NOW - TIMEOUT - 1000 }, NOW, TIMEOUT)).toContain("for 10 min");
    expect(cooldownBlocker({ startedAt: NOW - TIMEOUT - LOGIN_COOLDOWN_MS }, NOW, TIMEOUT)).toBeNull();
  });
  test("recordedLogin records the start, clears on success, records the end and reason on failure", async () => {
    const log: string[] = [];
    const map = new Map<string, LoginAttempt>();
    const records: AttemptRecords = {
      read: async (p) => map.get(p) ?? null,
      write: async (p, a) => void (log.push(`write ${JSON.stringify(a)}`), map.set(p, a)),
      clear: async (p) => void (log.push("clear"), map.delete(p)),
    };
    let t = NOW;
    expect(await recordedLogin(records, "p", () => t, async () => ((t += 1000), "ok"))).toBe("ok");
    expect(log).toEqual([`write {"startedAt":${NOW}}`, "clear"]);
    await expect(recordedLogin(records, "p", () => t, async () => Promise.reject(new Error("x".repeat(300))))).rejects.toThrow();
    expect(map.get("p")).toEqual({ startedAt: NOW + 1000, failedAt: NOW + 1000, reason: "x".repeat(200) });
  });
});

describe("the automatic login", () => {
  test("during the cool-down: refused with the login command, no browser, nothing recorded", async () => {
    const fake = fakeContext({ oauth: { signIn: async () => ({ accessToken: "a", expiresIn: 60 }) } });
    fake.attempts.set("default", { startedAt: NOW - 120_000, failedAt: NOW - 60_000 });
    const error = await automaticLogin(fake.ctx, PROFILE, { noBrowser: false }, "agent-runner-auth login")().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthRequiredError);
    expect((error as AuthRequiredError).message).toStartWith("you are not logged in, and an automatic sign-in was not completed");
    expect(fake.calls).toEqual([]);
  });
  test("otherwise: one sign-in with the browser and the default timeout; a failure is recorded for the next caller", async () => {
    const fake = fakeContext({ oauth: { signIn: async (o) => Promise.reject(new AuthRequiredError(`the sign-in was not completed within ${o.timeoutMs / 1000} s`)) } });
    await expect(automaticLogin(fake.ctx, PROFILE, { noBrowser: false }, "x")()).rejects.toThrow("within 300 s");
    expect(fake.attempts.get("default")).toEqual({ startedAt: NOW, failedAt: NOW, reason: "the sign-in was not completed within 300 s" });
    expect(DEFAULT_LOGIN_TIMEOUT_MS).toBe(300_000);
    expect(fake.calls).toEqual(["signIn"]);
  });
  test("a saved profile the endpoint policy refuses never reaches the sign-in (exit 5)", async () => {
    const fake = fakeContext({ oauth: { signIn: async () => ({ accessToken: "a", expiresIn: 60 }) } });
    const unsafe = { ...PROFILE, endpoints: { ...PROFILE.endpoints, authorization: "http://evil.example.com/authorize" } };
    const error = await browserLogin(fake.ctx, unsafe, { noBrowser: true })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).kind).toBe("config");
    expect(fake.calls).toEqual([]);
  });
});
