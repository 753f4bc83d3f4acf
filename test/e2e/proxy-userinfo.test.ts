/**
 * Issue 11 §3: an email-as-username pool gives erin a UUID `username` and no email in the access
 * token. The proxy looks the email up at the issuer's userInfo in the background: the first
 * request's log line shows the username, a later one `display_name: "erin@example.com"`, and the
 * ledger's `admin usage --by user` row shows the email. Real built binary (login, token, admin),
 * real local tenant (IdP, in-process proxy, stub upstream).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createInterface } from "node:readline";
import { EMAIL_SIGN_IN_USER } from "../../src/tenant/idp.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { messageBody, post } from "../support/gateway.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

const ADMIN_GROUP = "gateway-admins";
let tenant: TenantProcess;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  tenant = await startTenant(["--admin-group", ADMIN_GROUP]);
  createInterface({ input: tenant.child.stderr! }).on("line", (line) => {
    try {
      logLines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line (e.g. a runtime warning)
    }
  });
}, 60_000);
afterAll(async () => {
  await tenant?.stop();
});

async function signedIn(who: string, password: string): Promise<Record<string, string>> {
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(who, password) });
  const login = await runCli(["login", tenant.tenant], env);
  expect(login.code, login.stderr).toBe(0);
  return env;
}

const requestLines = (sub: string) => logLines.filter((l) => l.sub === sub && l.route === "messages");

test("erin (UUID username) is logged by username first, then by the email from userInfo; usage --by user shows the email", async () => {
  const erin = await signedIn(EMAIL_SIGN_IN_USER.email!, EMAIL_SIGN_IN_USER.password);
  const token = (await runCli(["token"], erin)).stdout.trim();
  const body = messageBody();
  const first = await post(tenant.tenant, token, body);
  expect(first.status).toBe(200);
  await first.text();
  // the background lookup is quick on loopback; poll rather than sleep a fixed time
  let line: Record<string, unknown> | undefined;
  for (let i = 0; i < 40 && !line; i++) {
    await Bun.sleep(50);
    const later = await post(tenant.tenant, token, body);
    expect(later.status).toBe(200);
    await later.text();
    await Bun.sleep(20);
    line = requestLines(EMAIL_SIGN_IN_USER.username).find((l) => l.display_name === "erin@example.com");
  }
  const lines = requestLines(EMAIL_SIGN_IN_USER.username);
  expect(lines[0]?.display_name).toBe(EMAIL_SIGN_IN_USER.username); // the first request did not wait
  expect(line).toMatchObject({ username: EMAIL_SIGN_IN_USER.username, display_name: "erin@example.com" });
  expect(JSON.stringify(logLines)).not.toContain(token);

  const admin = await signedIn("admin", "admin-password-1");
  const usage = await runCli(["admin", "usage", "--csv", "--by", "user"], admin);
  expect(usage.code, usage.stderr).toBe(0);
  expect(usage.stdout.split(/\r?\n/).map((l) => l.split(",")[0])).toContain("erin@example.com");
}, 90_000);

test("AGENT_RUNNER_PROXY_USERINFO=off: no lookup, erin stays logged by username", async () => {
  const off = await startTenant([], { AGENT_RUNNER_PROXY_USERINFO: "off" });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: off.child.stderr! }).on("line", (line) => {
    if (line.startsWith("{")) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  try {
    const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(EMAIL_SIGN_IN_USER.email!, EMAIL_SIGN_IN_USER.password) });
    expect((await runCli(["login", off.tenant], env)).code).toBe(0);
    const token = (await runCli(["token"], env)).stdout.trim();
    for (let i = 0; i < 5; i++) {
      const r = await post(off.tenant, token, messageBody());
      expect(r.status).toBe(200);
      await r.text();
      await Bun.sleep(100);
    }
    const mine = lines.filter((l) => l.sub === EMAIL_SIGN_IN_USER.username && l.route === "messages");
    expect(mine).toHaveLength(5);
    expect(mine.every((l) => l.display_name === EMAIL_SIGN_IN_USER.username)).toBe(true);
  } finally {
    await off.stop();
  }
}, 60_000);
