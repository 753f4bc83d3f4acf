/**
 * A real browser: Debian's Chromium, driven by playwright-core, started by the CLI through
 * BROWSER, signs in on the tenant's login page (a wrong password first, which must show an error).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { baseEnv, chromiumBrowser, isolatedHome, runCli } from "../support/cli.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(() => tenant.stop());

test("login through Chromium: wrong password rejected visibly, then signed in", async () => {
  const user = tenant.users[0]!;
  const resultFile = join(mkdtempSync(join(tmpdir(), "ara-chromium-")), "result.json");
  const env = baseEnv({
    ...isolatedHome(),
    AGENT_RUNNER_AUTH_STORE: "file",
    ...chromiumBrowser(user.username, user.password, resultFile),
    TEST_LOGIN_WRONG_FIRST: "1",
  });
  const login = await runCli(["login", tenant.tenant], env, { timeoutMs: 60_000 });
  expect(login.stderr).toContain("Logged in as demo");
  expect(login.code).toBe(0);
  // the browser script writes its result after the page rendered; give it a moment to close
  let result: Record<string, string> | undefined;
  for (let i = 0; i < 50 && !result; i++) {
    try {
      result = JSON.parse(readFileSync(resultFile, "utf8"));
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  expect(result?.wrongPasswordError).toBe("Incorrect username or password.");
  expect(result?.heading).toBe("Signed in");
  expect(result?.message).toContain("You can close this tab");
  expect(result?.url).toStartWith(`http://localhost:${tenant.redirectPorts[0]}/callback?`);
  const token = await runCli(["token"], env);
  expect(token.code).toBe(0);
  expect(token.stdout.trim().split(".")).toHaveLength(3);
}, 90_000);
