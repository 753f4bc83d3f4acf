/**
 * Refresh-token rotation keeps the session's absolute expiry (issue 21, point 3): Cognito's
 * rotated refresh token expires when the first one would have, so `status` shows the sign-in time
 * and sign-in + lifetime, not the last rotation + lifetime. The real built binary against the
 * local tenant with `--rotate-refresh-tokens`, whose IdP refuses the session at that same time.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

const ACCESS_TTL_S = 2;
const REFRESH_TTL_S = 14;
let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant(["--rotate-refresh-tokens", "--access-token-ttl", String(ACCESS_TTL_S), "--refresh-token-ttl", String(REFRESH_TTL_S)]);
});
afterAll(() => tenant?.stop());

const status = async (env: Record<string, string>) => {
  const r = await runCli(["status", "--json"], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { signed_in_at: string; refresh_token_expires_at: string };
};

test("after rotations, status shows the sign-in time and its absolute expiry, which the IdP enforces", async () => {
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser("demo", "demo-password-1") });
  const refreshToken = () => JSON.parse(readFileSync(join(env.XDG_DATA_HOME!, "agent-runner-auth", "tokens", "default", "refresh.json"), "utf8")).token as string;
  const before = Date.now();
  expect((await runCli(["login", tenant.tenant], env)).code).toBe(0);
  const after = Date.now();
  const signedIn = await status(env);
  const end = Date.parse(signedIn.refresh_token_expires_at);
  expect(end).toBeGreaterThanOrEqual(before + REFRESH_TTL_S * 1000);
  expect(end).toBeLessThanOrEqual(after + REFRESH_TTL_S * 1000);

  // two refreshes, each rotating the refresh token, well after the sign-in
  const first = refreshToken();
  for (let i = 0; i < 2; i++) {
    await Bun.sleep(ACCESS_TTL_S * 1000 + 300);
    const token = await runCli(["token", "--min-validity", "0"], env);
    expect(token.code, token.stderr).toBe(0);
  }
  expect(refreshToken()).not.toBe(first);
  expect((await tenant.stats()).grants.refresh_token).toBeGreaterThanOrEqual(2);
  const rotated = await status(env);
  expect(rotated).toMatchObject({ signed_in_at: signedIn.signed_in_at, refresh_token_expires_at: signedIn.refresh_token_expires_at });

  // the IdP agrees: past that expiry the rotated refresh token is refused, and the session is over
  await Bun.sleep(Math.max(0, end - Date.now()) + 500);
  const expired = await runCli(["token", "--min-validity", "0"], env);
  expect(expired.code).toBe(1);
  expect(expired.stderr).toContain("your session has expired or was revoked");
}, 40_000);
