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

async function headlessLogin(env: Record<string, string>, pastes: (redirect: string) => string[], flags = "--no-browser", complete?: (redirect: string) => Promise<void>) {
  const child = spawn("script", ["-qec", `${BINARY} login ${tenant.tenant} ${flags}`, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
  let screen = "";
  child.stdout.on("data", (d) => (screen += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  for (let i = 0; i < 100 && !/Paste the address/.test(screen); i++) await new Promise((r) => setTimeout(r, 50));
  const authorize = /(http:\/\/127\.0\.0\.1:\d+\/\S+\/oauth2\/authorize\?\S+)/.exec(screen)?.[1];
  expect(authorize).toBeDefined();
  const user = tenant.users[0]!;
  const redirect = await signInAndCaptureRedirect(authorize!, user.username, user.password);
  await complete?.(redirect);
  for (const line of pastes(redirect)) {
    child.stdin.write(line + "\r");
    await new Promise((r) => setTimeout(r, 300));
  }
  const code = await exited;
  return { code, screen, authorize: authorize! };
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

/**
 * Issue 11, section 4: in an SSH session with no display, a bare `login` opens no browser and
 * shows one screen: the address, the ssh -L forward of the callback port it listens on, and the
 * paste; then it waits for either.
 */
const sshEnv = () => baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", SSH_CONNECTION: "192.0.2.10 50522 192.0.2.20 22" });

function expectSshScreen(screen: string, authorize: string) {
  const port = new URL(new URL(authorize).searchParams.get("redirect_uri")!).port;
  expect(tenant.redirectPorts.map(String)).toContain(port);
  expect(screen).toContain(`ssh -L ${port}:localhost:${port} <this host>`);
  expect(screen).toContain("paste here the address your browser ends on");
  expect(screen).not.toMatch(/Opened your browser|Could not open a browser/);
  // one screen: the address, the two ways, the wait, the prompt
  const shown = screen.slice(screen.indexOf("Visit this URL"), screen.indexOf("Paste the address"));
  expect(shown.trim().split(/\r?\n/).length).toBeLessThanOrEqual(6);
}

test("SSH, no display: bare login shows the forward and the paste on one screen; finished by paste", async () => {
  const env = sshEnv();
  const { code, screen, authorize } = await headlessLogin(env, (redirect) => [redirect], "");
  expectSshScreen(screen, authorize);
  expect(screen).toContain("Logged in as demo");
  expect(code).toBe(0);
  expect((await runCli(["token"], env)).code).toBe(0);
}, 30_000);

test("SSH, no display: finished by the forwarded callback (the browser reaching localhost:PORT), nothing pasted", async () => {
  const env = sshEnv();
  let page = "";
  const { code, screen, authorize } = await headlessLogin(env, () => [], "", async (redirect) => {
    const response = await fetch(redirect); // what the user's browser does through `ssh -L`
    page = await response.text();
    expect(response.status).toBe(200);
  });
  expectSshScreen(screen, authorize);
  expect(page).toContain("You are signed in");
  expect(screen).toContain("Logged in as demo");
  expect(code).toBe(0);
  expect((await runCli(["token"], env)).code).toBe(0);
}, 30_000);
