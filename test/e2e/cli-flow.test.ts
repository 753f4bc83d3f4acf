/**
 * The built binary against the running local tenant: login, cached token, silent refresh,
 * rotation on and off, expired and revoked refresh tokens, logout with revocation, and the
 * non-interactive error. File store here; the keychain and pass have their own files.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { occupyPorts } from "../support/network.ts";
import { startTenant, type TenantProcess, BUN, ROOT } from "../support/tenant.ts";
import { baseEnv, isolatedHome, runCli, runCliWithTerminal, scriptedBrowser } from "../support/cli.ts";

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function userEnv(tenant: TenantProcess, extra: Record<string, string> = {}) {
  const user = tenant.users[0]!;
  return baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password), ...extra });
}

function tokenFile(env: Record<string, string>, name: string, profile = "default"): string {
  return join(env.XDG_DATA_HOME!, "agent-runner-auth", "tokens", profile, `${name}.json`);
}

async function login(tenant: TenantProcess, env: Record<string, string>, extra: string[] = []) {
  const result = await runCli(["login", tenant.tenant, ...extra], env);
  expect(result.stderr).toContain("Logged in as demo");
  expect(result.code).toBe(0);
  expect(result.stdout).toBe("");
  return result;
}

describe("default tenant (1 h tokens, no rotation)", () => {
  let tenant: TenantProcess;
  beforeAll(async () => {
    tenant = await startTenant();
  });
  afterAll(() => tenant.stop());

  test("login through the login page, then token is served from the cache", async () => {
    const env = userEnv(tenant);
    await login(tenant, env);
    const before = await tenant.stats();
    const first = await runCli(["token"], env);
    const second = await runCli(["token"], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(JWT);
    expect(second.stdout).toBe(first.stdout);
    // the cached path makes no request to the IdP
    expect((await tenant.stats()).tokenRequests).toBe(before.tokenRequests);
    // the file store says so on stderr, and its files are private
    expect(first.stderr).toContain("using the file store");
    expect(fsMode(tokenFile(env, "access"))).toBe(0o600);
    expect(fsMode(join(env.XDG_DATA_HOME!, "agent-runner-auth", "tokens", "default"))).toBe(0o700);
  });

  test("--verbose logs each step on stderr, never a secret", async () => {
    const env = userEnv(tenant);
    const login = await runCli(["login", tenant.tenant, "--verbose"], env);
    expect(login.stderr).toContain("agent-runner-auth: reading the tenant discovery document of");
    expect(login.stderr).toContain("agent-runner-auth: store: plaintext files");
    const cached = await runCli(["token", "--verbose"], env);
    expect(cached.stderr).toContain("agent-runner-auth: cached access token is fresh");
    rmSync(tokenFile(env, "access")); // no access token: the next call must refresh
    const refreshed = await runCli(["token", "--verbose"], env);
    expect(refreshed.stderr).toContain("no fresh access token: taking the profile lock");
    expect(refreshed.stderr).toContain("refreshing at ");
    const secrets = [cached.stdout.trim(), refreshed.stdout.trim(), JSON.parse(readFileSync(tokenFile(env, "refresh"), "utf8")).token as string];
    for (const secret of secrets) {
      for (const out of [login.stderr, cached.stderr, refreshed.stderr]) expect(out).not.toContain(secret.slice(10, 40));
    }
  });

  test("the access token carries Cognito's claims", async () => {
    const env = userEnv(tenant);
    await login(tenant, env);
    const token = (await runCli(["token"], env)).stdout.trim();
    const [header, payload] = token.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(header.alg).toBe("RS256");
    expect(typeof header.kid).toBe("string");
    expect(payload).toMatchObject({ token_use: "access", client_id: tenant.client_id, username: "demo", iss: tenant.issuer, "cognito:groups": ["developers"] });
    for (const claim of ["sub", "scope", "jti", "origin_jti", "auth_time", "iat", "exp"]) expect(payload[claim]).toBeDefined();
    expect(payload.sub).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
  });

  test("status reports the user, tenant and expiries; --json on stdout", async () => {
    const env = userEnv(tenant);
    await login(tenant, env);
    const human = await runCli(["status"], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toBe("");
    expect(human.stderr).toContain('Profile "default": logged in');
    expect(human.stderr).toContain("demo <demo@example.invalid>");
    const json = await runCli(["status", "--json"], env);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ profile: "default", tenant: tenant.tenant, issuer: tenant.issuer, user: "demo", logged_in: true, access_token_valid: true, refresh_token_present: true, store: "file" });
    expect(Date.parse(report.access_token_expires_at) - Date.now()).toBeGreaterThan(3500_000);
    expect(Date.parse(report.refresh_token_expires_at) - Date.now()).toBeGreaterThan(29 * 86400_000);
  });

  test("logout revokes the refresh token at the IdP and deletes the tokens", async () => {
    const env = userEnv(tenant);
    await login(tenant, env);
    const refreshToken = JSON.parse(readFileSync(tokenFile(env, "refresh"), "utf8")).token;
    const before = (await tenant.stats()).revocations;
    const out = await runCli(["logout"], env);
    expect(out.code).toBe(0);
    expect(out.stderr).toContain("Logged out");
    expect((await tenant.stats()).revocations).toBe(before + 1);
    for (const name of ["access", "refresh", "id"]) expect(existsSync(tokenFile(env, name))).toBe(false);
    // the revoked refresh token no longer works at the IdP
    const response = await fetch(`${tenant.issuer}/oauth2/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: tenant.client_id }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toBe("invalid_grant");
    const status = await runCli(["status"], env);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain("not logged in");
    const token = await runCli(["token"], env);
    expect(token.code).toBe(1);
    expect(token.stdout).toBe("");
  });

  test("logout offline still deletes, and warns", async () => {
    const env = userEnv(tenant);
    await login(tenant, env);
    const profilePath = join(env.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json");
    const profile = JSON.parse(readFileSync(profilePath, "utf8"));
    profile.endpoints.revocation = "http://127.0.0.1:9/unreachable";
    await Bun.write(profilePath, JSON.stringify(profile));
    const out = await runCli(["logout"], env);
    expect(out.code).toBe(0);
    expect(out.stderr).toContain("could not revoke the session");
    expect(existsSync(tokenFile(env, "refresh"))).toBe(false);
  });

  test("non-interactive: no session and no terminal is one clear line and exit 1", async () => {
    const env = userEnv(tenant);
    const noProfile = await runCli(["token"], env);
    expect(noProfile.code).toBe(1);
    expect(noProfile.stdout).toBe("");
    expect(noProfile.stderr).toContain("Run: agent-runner-auth login <tenant URL>");
    await login(tenant, env);
    await runCli(["logout"], env);
    const noTty = await runCli(["token"], env);
    expect(noTty.code).toBe(1);
    expect(noTty.stdout).toBe("");
    expect(noTty.stderr).toContain("there is no terminal");
    expect(noTty.stderr).toContain("Run: agent-runner-auth login");
    const ci = await runCliWithTerminal(["token"], { ...env, CI: "true" });
    expect(ci.code).toBe(1);
    expect(ci.stdout).toBe("");
    expect(ci.stderr).toContain("$CI is set");
  });

  test("interactive: with a terminal and a display, token signs in through the browser and prints", async () => {
    const env = userEnv(tenant);
    await login(tenant, env);
    await runCli(["logout"], env);
    const result = await runCliWithTerminal(["token"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(JWT);
    expect(result.stderr).toContain("Opened your browser");
  });

  test("a callback with the wrong state is refused and ignored: the login waits until its timeout", async () => {
    const env = userEnv(tenant);
    const resultFile = join(mkdtempSync(join(tmpdir(), "ara-")), "cb.json");
    const out = await runCli(["login", tenant.tenant, "--timeout", "3s"], {
      ...env,
      BROWSER: `${BUN} ${join(ROOT, "test/support/fake-browser.ts")}`,
      FAKE_BROWSER_MODE: "wrong-state",
      FAKE_BROWSER_RESULT: resultFile,
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("not completed within 3 s");
    await sleep(200);
    const page = JSON.parse(readFileSync(resultFile, "utf8"));
    expect(page.status).toBe(400);
    expect(page.body).toContain("Sign-in failed");
    expect(readFileSync(resultFile + ".second", "utf8")).toBe("400");
    expect(existsSync(tokenFile(env, "access"))).toBe(false);
  });

  test("an error from the IdP is reported, and shown escaped in the browser", async () => {
    const env = userEnv(tenant);
    const resultFile = join(mkdtempSync(join(tmpdir(), "ara-")), "cb.json");
    const out = await runCli(["login", tenant.tenant], {
      ...env,
      BROWSER: `${BUN} ${join(ROOT, "test/support/fake-browser.ts")}`,
      FAKE_BROWSER_MODE: "idp-error",
      FAKE_BROWSER_RESULT: resultFile,
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("access_denied");
    await sleep(200);
    const page = JSON.parse(readFileSync(resultFile, "utf8"));
    expect(page.body).not.toContain("<script>alert(1)</script>");
    expect(page.body).toContain("&#60;script&#62;");
  });

  test("a malformed token response fails the login with exit 3 and stores nothing", async () => {
    const env = userEnv(tenant);
    await tenant.faults([{ kind: "malformed-json" }]);
    const out = await runCli(["login", tenant.tenant], env);
    expect(out.code).toBe(3);
    expect(out.stderr).toMatch(/invalid response|did not return JSON|parse/i);
    expect(existsSync(tokenFile(env, "access"))).toBe(false);
  });

  test("all registered callback ports busy: a hint naming them and --port", async () => {
    const env = userEnv(tenant);
    const release = await occupyPorts(tenant.redirectPorts);
    try {
      const out = await runCli(["login", tenant.tenant], env);
      expect(out.code).toBe(1);
      for (const port of tenant.redirectPorts) expect(out.stderr).toContain(String(port));
      expect(out.stderr).toContain("--port");
      const onePortFree = await runCli(["login", tenant.tenant, "--port", "1"], env);
      expect(onePortFree.code).toBe(2);
      expect(onePortFree.stderr).toContain("not a registered callback port");
    } finally {
      release();
    }
  });

  test("usage errors exit 2 with the fix", async () => {
    const env = userEnv(tenant);
    const cases: [string[], string][] = [
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["token", "--nope"], "unknown option --nope"],
      [["login", "not a url"], "is not a URL"],
      [["login", "--issuer", "https://x.example"], "--issuer and --client-id go together"],
      [["token", "--min-validity", "soon"], "--min-validity must be a duration"],
      [["token", "--profile", "../etc"], "invalid profile name"],
      [["token", "--store", "floppy"], "--store must be keychain, pass or file"],
    ];
    for (const [args, message] of cases) {
      const out = await runCli(args, env);
      expect(out.stderr).toContain(message);
      expect(out.code).toBe(2);
    }
  });

  test("a corrupt profile file is reported with its path, exit 5", async () => {
    const env = userEnv(tenant);
    await login(tenant, env);
    const profilePath = join(env.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json");
    await Bun.write(profilePath, "{ not json");
    const out = await runCli(["token"], env);
    expect(out.code).toBe(5);
    expect(out.stderr).toContain(profilePath);
    expect(out.stderr).not.toContain("    at ");
  });
});

function fsMode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe("short-lived tokens", () => {
  test("silent refresh after the access token expires; no rotation keeps the refresh token", async () => {
    const tenant = await startTenant(["--access-token-ttl", "2"]);
    try {
      const env = userEnv(tenant);
      await login(tenant, env);
      const refreshBefore = readFileSync(tokenFile(env, "refresh"), "utf8");
      const first = (await runCli(["token", "--min-validity", "0"], env)).stdout;
      await sleep(2300);
      const refreshed = await runCli(["token", "--min-validity", "0"], env);
      expect(refreshed.code).toBe(0);
      expect(refreshed.stdout).toMatch(JWT);
      expect(refreshed.stdout).not.toBe(first);
      expect((await tenant.stats()).grants.refresh_token).toBe(1);
      // Cognito without rotation returns no refresh token: the stored one is kept as it was
      expect(readFileSync(tokenFile(env, "refresh"), "utf8")).toBe(refreshBefore);
      // and the new access token is now the cached one
      const again = await runCli(["token", "--min-validity", "0"], env);
      expect(again.stdout).toBe(refreshed.stdout);
      expect((await tenant.stats()).grants.refresh_token).toBe(1);
    } finally {
      await tenant.stop();
    }
  });

  test("with rotation on, the new refresh token replaces the old one, which is then dead", async () => {
    const tenant = await startTenant(["--access-token-ttl", "2", "--rotate-refresh-tokens"]);
    try {
      const env = userEnv(tenant);
      await login(tenant, env);
      const oldRefresh = JSON.parse(readFileSync(tokenFile(env, "refresh"), "utf8")).token;
      await sleep(2300);
      expect((await runCli(["token", "--min-validity", "0"], env)).code).toBe(0);
      const newRefresh = JSON.parse(readFileSync(tokenFile(env, "refresh"), "utf8")).token;
      expect(newRefresh).not.toBe(oldRefresh);
      await sleep(2300);
      // the rotated token keeps working
      expect((await runCli(["token", "--min-validity", "0"], env)).code).toBe(0);
      expect((await tenant.stats()).grants.refresh_token).toBe(2);
    } finally {
      await tenant.stop();
    }
  });

  test("an expired refresh token ends in the non-interactive error and is deleted", async () => {
    const tenant = await startTenant(["--access-token-ttl", "1", "--refresh-token-ttl", "2"]);
    try {
      const env = userEnv(tenant);
      await login(tenant, env);
      await sleep(2600);
      const out = await runCli(["token"], env);
      expect(out.code).toBe(1);
      expect(out.stdout).toBe("");
      expect(out.stderr).toContain("your session has expired or was revoked");
      expect(out.stderr).toContain("Run: agent-runner-auth login");
      expect(existsSync(tokenFile(env, "refresh"))).toBe(false);
    } finally {
      await tenant.stop();
    }
  });

  test("a revoked refresh token ends in the non-interactive error", async () => {
    const tenant = await startTenant(["--access-token-ttl", "1"]);
    try {
      const env = userEnv(tenant);
      await login(tenant, env);
      const refreshToken = JSON.parse(readFileSync(tokenFile(env, "refresh"), "utf8")).token;
      const revoked = await fetch(`${tenant.issuer}/oauth2/revoke`, { method: "POST", body: new URLSearchParams({ token: refreshToken, client_id: tenant.client_id }) });
      expect(revoked.status).toBe(200);
      await sleep(1200);
      const out = await runCli(["token"], env);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain("your session has expired or was revoked");
    } finally {
      await tenant.stop();
    }
  });
});
