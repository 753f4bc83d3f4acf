/**
 * This machine's clock hours off the IdP's (libfaketime shifts only the CLI's clock): login still
 * validates the ID token (skew read from the IdP's Date header), and token expiry is computed from
 * `expires_in`, so a valid token is served and refreshed on time either way.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { BINARY, baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant(["--access-token-ttl", "3"]);
});
afterAll(() => tenant.stop());

for (const offset of ["+2h", "-2h"]) {
  test(`local clock ${offset} off the IdP: login, cached token, refresh on time`, async () => {
    const user = tenant.users[0]!;
    const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password) });
    const skewed = (args: string[]) => runCli(["-f", offset, BINARY, ...args], env, { binary: "faketime" });
    const login = await skewed(["login", tenant.tenant]);
    expect(login.stderr).toContain("Logged in as demo");
    expect(login.code).toBe(0);
    const first = await skewed(["token", "--min-validity", "0"]);
    expect(first.code).toBe(0);
    const status = JSON.parse((await skewed(["status", "--json"])).stdout);
    expect(status.access_token_valid).toBe(true);
    const grantsBefore = (await tenant.stats()).grants.refresh_token ?? 0;
    // still the cached one within its 3 s, refreshed after
    expect((await skewed(["token", "--min-validity", "0"])).stdout).toBe(first.stdout);
    await new Promise((r) => setTimeout(r, 3200));
    const second = await skewed(["token", "--min-validity", "0"]);
    expect(second.code).toBe(0);
    expect(second.stdout).not.toBe(first.stdout);
    expect((await tenant.stats()).grants.refresh_token).toBe(grantsBefore + 1);
  }, 30_000);
}
