/**
 * Logins without a local browser (SSH, containers): `login --no-browser` prints the URL; the user
 * signs in elsewhere and pastes the address the browser was sent to. The paste is read from the
 * controlling terminal (a pty here) and validated; a bad paste is explained and asked again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { occupyPorts } from "../support/network.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { BINARY, baseEnv, isolatedHome, runCli } from "../support/cli.ts";
import { signInAndCaptureRedirect } from "../support/http-login.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(() => tenant.stop());

async function headlessLogin(env: Record<string, string>, pastes: (redirect: string) => string[]) {
  const child = spawn("script", ["-qec", `${BINARY} login ${tenant.tenant} --no-browser`, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
  let screen = "";
  child.stdout.on("data", (d) => (screen += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  for (let i = 0; i < 100 && !/Paste the address/.test(screen); i++) await new Promise((r) => setTimeout(r, 50));
  const authorize = /(http:\/\/127\.0\.0\.1:\d+\/\S+\/oauth2\/authorize\?\S+)/.exec(screen)?.[1];
  expect(authorize).toBeDefined();
  const user = tenant.users[0]!;
  const redirect = await signInAndCaptureRedirect(authorize!, user.username, user.password);
  for (const line of pastes(redirect)) {
    child.stdin.write(line + "\r");
    await new Promise((r) => setTimeout(r, 300));
  }
  const code = await exited;
  return { code, screen };
}

test("login --no-browser: paste the redirected address into the terminal", async () => {
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file" });
  // the loopback ports are taken (as on a shared SSH host): the paste still works
  const release = await occupyPorts(tenant.redirectPorts);
  try {
    const { code, screen } = await headlessLogin(env, (redirect) => ["not an address at all!", "http://localhost:1/elsewhere?code=x", redirect]);
    expect(screen).toContain("Visit this URL to sign in, on this or any other machine");
    expect(screen).toContain("continuing with a pasted address only");
    expect(screen).toContain("neither the callback address nor an authorization code");
    expect(screen).toContain("is not the sign-in callback");
    expect(screen).toContain("Logged in as demo");
    expect(code).toBe(0);
  } finally {
    release();
  }
  expect((await runCli(["token"], env)).code).toBe(0);
}, 30_000);

test("a pasted address from another sign-in (wrong state) fails the login", async () => {
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file" });
  const { code, screen } = await headlessLogin(env, (redirect) => [redirect.replace(/state=[^&]+/, "state=forged")]);
  expect(screen).toContain("wrong state");
  expect(code).toBe(1);
}, 30_000);
