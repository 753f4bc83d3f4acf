/**
 * A token the gateway refused is not handed out again (issue 21, point 1), with the real built
 * binary against the local tenant's real gateway and IdP: Claude Code re-runs `token` right after
 * a 401, and that re-run asks the gateway (GET /_gateway/v1/session) before printing. A revoked
 * person gets exit 1 and one line (the refresh token kept, so a restore needs no new sign-in); a
 * signed-out session gets a browser sign-in where a person is there; the Desktop helper and
 * `--format headers` behave the same; an unreachable gateway changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, baseEnv, isolatedHome, runCli, runCliWithTerminal, scriptedBrowser, type CliResult } from "../support/cli.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { randomPort } from "../support/ports.ts";

const ADMIN_GROUP = "gateway-admins";
import { REASON_HEADER } from "../../src/shared/gateway-reasons.ts";
let tenant: TenantProcess;
let adminEnv: Record<string, string>;

beforeAll(async () => {
  tenant = await startTenant(["--admin-group", ADMIN_GROUP]);
  adminEnv = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser("admin", "admin-password-1") });
  expect((await runCli(["login", tenant.tenant], adminEnv)).code).toBe(0);
});
afterAll(() => tenant?.stop());

async function person() {
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser("demo", "demo-password-1") });
  expect((await runCli(["login", tenant.tenant], env)).code).toBe(0);
  return env;
}
const refreshFile = (env: Record<string, string>) => join(env.XDG_DATA_HOME!, "agent-runner-auth", "tokens", "default", "refresh.json");
const refreshToken = (env: Record<string, string>) => JSON.parse(readFileSync(refreshFile(env), "utf8")).token as string;
const sessionAnswer = (token: string) => fetch(`${tenant.tenant}/_gateway/v1/session`, { headers: { authorization: `Bearer ${token}` } });
/** The gateway's denylist is cached for up to 1 s per process: wait until it refuses the token. */
async function refusedWithin(token: string, ms = 3000): Promise<Response> {
  const started = performance.now();
  for (;;) {
    const answer = await sessionAnswer(token);
    if (answer.status === 401) return answer;
    if (performance.now() - started > ms) throw new Error(`the gateway still accepts the token after ${ms} ms`);
    await Bun.sleep(100);
  }
}
/** The one line of a refusal (the file-store notice aside). */
const lines = (r: CliResult) => r.stderr.trim().split("\n").filter((l) => l !== "" && !l.includes("using the file store"));
const admin = (args: string[]) => runCli(["admin", ...args], adminEnv);

describe("a token the gateway refused", () => {
  test("a re-run within 60 s asks the gateway; a revoked person gets exit 1 and one line, the refresh token kept; restored, a new token without signing in", async () => {
    const env = await person();
    const first = await runCli(["token"], env);
    expect(first.code).toBe(0);
    const token = first.stdout.trim();
    const again = await runCli(["token", "--verbose"], env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(token);
    expect(again.stderr).toContain("asking the gateway first");

    expect((await admin(["revoke", "--user", "demo", "--reason", "e2e"])).code).toBe(0);
    const refusal = await refusedWithin(token);
    expect(refusal.headers.get(REASON_HEADER)).toBe("person_revoked");
    const grantsBefore = (await tenant.stats()).grants.refresh_token ?? 0;
    const refreshBefore = refreshToken(env);

    const refused = await runCli(["token"], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(lines(refused)).toHaveLength(1);
    expect(lines(refused)[0]).toBe("agent-runner-auth: the gateway refuses your access: an administrator withdrew it, so signing in again will not help; ask your administrator to restore it");
    // one refresh was tried (the gateway refuses the refreshed token too), and the refresh token is kept
    expect(((await tenant.stats()).grants.refresh_token ?? 0) - grantsBefore).toBe(1);
    expect(refreshToken(env)).toBe(refreshBefore);

    // the same for the other forms, and however late the next run comes (the refusal is remembered)
    const headers = await runCli(["token", "--format", "headers"], env);
    expect([headers.code, headers.stdout]).toEqual([1, ""]);
    const helper = join(mkdtempSync(join(tmpdir(), "ara-desktop-")), "agent-runner-auth-desktop-helper");
    symlinkSync(BINARY, helper);
    const desktop = await runCli([], { ...env, CLAUDE_HELPER_CONTEXT: "mid-session-refresh" }, { binary: helper, timeoutMs: 20_000 });
    expect([desktop.code, desktop.stdout]).toEqual([1, ""]);
    expect(lines(desktop)).toHaveLength(1);

    expect((await admin(["restore", "--user", "demo"])).code).toBe(0);
    await Bun.sleep(1100); // the gateway's denylist cache
    const restored = await runCli(["token"], env);
    expect(restored.code, restored.stderr).toBe(0);
    const fresh = restored.stdout.trim();
    expect(fresh).not.toBe(token);
    expect((await sessionAnswer(fresh)).status).toBe(200);
    expect(refreshToken(env)).toBe(refreshBefore); // no new sign-in was needed
  }, 60_000);

  test("a signed-out session: exit 1 naming the login command; with a terminal and a display, the browser sign-in runs and the new token is printed", async () => {
    const env = await person();
    const token = (await runCli(["token"], env)).stdout.trim();
    // the session ended at the gateway (as `logout` on another machine holding its tokens would)
    expect((await fetch(`${tenant.tenant}/_gateway/v1/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await refusedWithin(token)).headers.get(REASON_HEADER)).toBe("session_revoked");

    const refused = await runCli(["token"], env);
    expect([refused.code, refused.stdout]).toEqual([1, ""]);
    expect(lines(refused)).toEqual(["agent-runner-auth: access was revoked at the gateway (this session was signed out or revoked); run 'agent-runner-auth login'"]);

    const authorizations = (await tenant.stats()).authorizations;
    const signedIn = await runCliWithTerminal(["token"], { ...env, DISPLAY: ":0" });
    expect(signedIn.code, signedIn.stderr).toBe(0);
    const fresh = signedIn.stdout.trim();
    expect(fresh.split(".")).toHaveLength(3);
    expect((await sessionAnswer(fresh)).status).toBe(200);
    expect((await tenant.stats()).authorizations).toBe(authorizations + 1);
  }, 60_000);

  test("a gateway that cannot be reached changes nothing: the cached token is printed", async () => {
    const env = await person();
    const token = (await runCli(["token"], env)).stdout.trim();
    // the profile now names a gateway nobody listens on (the IdP is unchanged)
    const profileFile = join(env.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json");
    const profile = JSON.parse(readFileSync(profileFile, "utf8"));
    writeFileSync(profileFile, JSON.stringify({ ...profile, tenant: `http://127.0.0.1:${randomPort()}` }));
    const again = await runCli(["token", "--verbose"], env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(token);
    expect(again.stderr).toContain("could not ask the gateway");
    expect(again.ms).toBeLessThan(2500);
    expect(existsSync(refreshFile(env))).toBe(true);
  });
});
