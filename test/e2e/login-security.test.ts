/**
 * The browser login against other local users and stray requests (issue 10, points 7 and 8):
 * the real built binary, the real local tenant, a BROWSER script that pauses at each step so the
 * test can read every process's command line and act as an attacker in between. The attacker is
 * another Unix user (nobody, via setpriv + curl) where the test runs as root, as in CI here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTenant, type TenantProcess, BUN, ROOT } from "../support/tenant.ts";
import { baseEnv, isolatedHome, runCli, type CliResult } from "../support/cli.ts";
import { signInAndCaptureRedirect } from "../support/http-login.ts";

const MALLORY = { username: "mallory", password: "mallory-password-1" };
let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant(["--user", "demo:demo-password-1", "--user", `${MALLORY.username}:${MALLORY.password}`]);
});
afterAll(() => tenant.stop());

async function waitForFile(path: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      if (text !== "") return text;
    }
    await Bun.sleep(50);
  }
  throw new Error(`${path} never appeared`);
}

/** Every process's argv, as `ps -ef` shows it to any user. */
function allCommandLines(): Map<number, string> {
  const lines = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      lines.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " "));
    } catch {
      // the process ended meanwhile
    }
  }
  return lines;
}

/** A login whose browser is the probe: the test steps it through go / signin. */
function probedLogin(username = "demo", password = "demo-password-1") {
  const dir = mkdtempSync(join(tmpdir(), "ara-probe-"));
  const env = baseEnv({
    ...isolatedHome(),
    AGENT_RUNNER_AUTH_STORE: "file",
    BROWSER: `${BUN} ${join(ROOT, "test/support/login-probe-browser.ts")}`,
    PROBE_DIR: dir,
    PROBE_USERNAME: username,
    PROBE_PASSWORD: password,
  });
  const done: Promise<CliResult> = runCli(["login", tenant.tenant, "--timeout", "30s"], env, { timeoutMs: 40_000 });
  return {
    env,
    done,
    argv: async () => JSON.parse(await waitForFile(join(dir, "argv.json"))) as { pid: number; argv: string[] },
    go: async () => {
      writeFileSync(join(dir, "go"), "1");
      return new URL(await waitForFile(join(dir, "authorize")));
    },
    signIn: async () => {
      writeFileSync(join(dir, "signin"), "1");
      const result = await done;
      return { result, page: JSON.parse(await waitForFile(join(dir, "result.json"))) as { callback: string; status: number; body: string; replay: number | string } };
    },
  };
}

/** A request made by another local user (nobody): status, headers and body as curl saw them. */
function asOtherUser(url: string): { status: number; head: string; body: string } {
  const out = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "curl", "-s", "-i", "--max-time", "5", url], { encoding: "utf8" });
  const text = out.stdout ?? "";
  const split = text.indexOf("\r\n\r\n");
  return { status: Number(/^HTTP\/\S+ (\d+)/.exec(text)?.[1] ?? 0), head: text.slice(0, split), body: text.slice(split + 4) };
}

describe("the authorization URL never reaches a command line", () => {
  test("while the login waits, no process's argv holds the state, the nonce or the authorization URL; the login completes", async () => {
    const login = probedLogin();
    const browser = await login.argv();
    const browserArgv = readFileSync(`/proc/${browser.pid}/cmdline`, "utf8").replaceAll("\0", " ");
    const before = allCommandLines();
    const authorize = await login.go();
    const during = allCommandLines();
    const { result, page } = await login.signIn();
    expect(result.stderr).toContain("Logged in as demo");
    expect(result.code).toBe(0);
    expect(page.status).toBe(200);

    const state = authorize.searchParams.get("state")!;
    const nonce = authorize.searchParams.get("nonce")!;
    expect(state.length).toBeGreaterThan(20);
    expect(nonce.length).toBeGreaterThan(20);
    // the browser got only the loopback start address
    expect(browser.argv.at(-1)).toMatch(/^http:\/\/localhost:\d+\/start\/[A-Za-z0-9_-]{43}$/);
    for (const line of [browserArgv, browser.argv.join(" ")]) {
      expect(line).not.toContain("state=");
      expect(line).not.toContain("nonce=");
      expect(line).not.toContain("/oauth2/authorize");
    }
    for (const snapshot of [before, during]) {
      for (const [pid, line] of snapshot) {
        const leak = [state, nonce, authorize.href].find((secret) => line.includes(secret));
        expect(leak ? `pid ${pid}: ${line}` : "").toBe("");
      }
    }
  }, 60_000);
});

describe("another local user who reads the start address in ps", () => {
  test("fetching it first (as nobody) gets an error page and no redirect; a same-user second fetch too; the victim signs in as themselves", async () => {
    const login = probedLogin();
    const start = (await login.argv()).argv.at(-1)!;
    // The attacker races the victim's browser: first to the start address, then, with whatever
    // authorization URL it learnt, signs in as mallory and delivers the callback as nobody.
    const first = asOtherUser(start);
    const learnt = first.status === 302 ? /\nlocation: (\S+)/i.exec(first.head)?.[1] : start.includes("state=") ? start : undefined;
    let attackerCallback: { status: number; body: string } | null = null;
    if (learnt) {
      const callback = await signInAndCaptureRedirect(learnt, MALLORY.username, MALLORY.password);
      attackerCallback = asOtherUser(callback.replace("localhost", "127.0.0.1"));
    }
    // (before: the argv held the authorization URL itself, and this callback signed the victim in as mallory)
    expect(attackerCallback).toBeNull();
    expect(first.status).toBe(403);
    expect(first.head.toLowerCase()).not.toContain("location:");
    expect(first.body).toContain("Sign-in failed");
    expect(first.body).not.toContain("state=");

    const authorize = await login.go();
    // Once the victim's browser used it, the start address is spent, even for this user.
    const second = await fetch(start, { redirect: "manual" });
    const secondBody = await second.text();
    expect(second.status).toBe(410);
    expect(second.headers.get("location")).toBeNull();
    expect(secondBody).not.toContain(authorize.searchParams.get("state")!);

    const { result, page } = await login.signIn();
    expect(result.stderr).toContain("Logged in as demo");
    expect(result.stderr).not.toContain("mallory");
    expect(result.code).toBe(0);
    expect(page.status).toBe(200);
  }, 60_000);
});

describe("stray requests do not end the login", () => {
  test("no state, wrong state, wrong path, a right state without the browser's cookie, a stale callback: error pages; then the login completes and a replayed code is refused", async () => {
    // a first, complete login gives a real but stale callback address
    const earlier = probedLogin();
    await earlier.argv();
    await earlier.go();
    const stale = (await earlier.signIn()).page.callback;

    const login = probedLogin();
    await login.argv();
    const authorize = await login.go();
    const state = authorize.searchParams.get("state")!;
    const base = `http://127.0.0.1:${new URL(authorize.searchParams.get("redirect_uri")!).port}`;
    const strays = [
      `${base}/`,
      `${base}/favicon.ico`,
      `${base}/callback`,
      `${base}/callback?code=forged-code-1234567890`,
      `${base}/callback?code=forged-code-1234567890&state=not-the-state`,
      `${base}/callback?error=access_denied&state=not-the-state`,
      // the right state (leaked somehow) but not from the browser that opened the start page
      `${base}/callback?code=forged-code-1234567890&state=${encodeURIComponent(state)}`,
      new URL(new URL(stale).search, `${base}/callback`).href,
    ];
    const before = await tenant.stats();
    const answers = [];
    for (const url of strays) {
      const response = await fetch(url, { redirect: "manual" }).catch(() => null); // null: no listener any more
      answers.push({ url, status: response?.status ?? 0, type: response?.headers.get("content-type") ?? null, body: (await response?.text()) ?? "" });
    }
    const tokenRequests = (await tenant.stats()).tokenRequests - before.tokenRequests;
    const { result, page } = await login.signIn();
    // the login outlived them all (before: the first stray callback ended it)
    expect(result.stderr).toContain("Logged in as demo");
    expect(result.code).toBe(0);
    for (const answer of answers) {
      expect(`${answer.url} -> ${answer.status}`).toMatch(/ -> 4\d\d$/);
      expect(answer.type).toStartWith("text/html");
      expect(answer.body).toContain("Sign-in failed");
      expect(answer.body).not.toContain(state);
      expect(answer.body).not.toContain("<script");
    }
    // none of them reached the token endpoint
    expect(tokenRequests).toBe(0);
    expect(page.status).toBe(200);
    // the same callback again is refused (409 while the listener drains, or no listener at all)
    expect(page.replay === "refused" || page.replay === 409).toBe(true);
    expect(((await tenant.stats()).grants.authorization_code ?? 0) - (before.grants.authorization_code ?? 0)).toBe(1);
    // and the stored session is the one from the real callback
    expect((await runCli(["token"], login.env)).code).toBe(0);
  }, 90_000);
});
