/**
 * Never lose a session: concurrent callers (refresh grants counted at the IdP), SIGKILL during a
 * refresh, one browser for many callers, no tab storms, and faults injected at the local tenant.
 * Real binary, real local tenant, file store (the keychain and pass have their own files).
 */
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTenant, type TenantProcess, BUN, ROOT } from "../support/tenant.ts";
import { BINARY, runCli, runCliWithTerminal, signedIn } from "../support/cli.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const figures: Record<string, unknown> = {};


function refreshFile(env: Record<string, string>): string {
  return join(env.XDG_DATA_HOME!, "agent-runner-auth", "tokens", "default", "refresh.json");
}


function countingBrowser(signIn: boolean, tenant: TenantProcess): Record<string, string> {
  const countFile = join(mkdtempSync(join(tmpdir(), "ara-count-")), "launches");
  writeFileSync(countFile, "");
  const user = tenant.users[0]!;
  return {
    BROWSER: join(ROOT, "test/support/counting-browser.sh"),
    BROWSER_COUNT_FILE: countFile,
    BROWSER_SIGN_IN: signIn ? "1" : "0",
    BUN_PATH: BUN,
    SCRIPTED_BROWSER: join(ROOT, "scripts/scripted-browser.ts"),
    AGENT_RUNNER_DEMO_USERNAME: user.username,
    AGENT_RUNNER_DEMO_PASSWORD: user.password,
  };
}

const launches = (env: Record<string, string>) => readFileSync(env.BROWSER_COUNT_FILE!, "utf8").split("\n").filter(Boolean).length;

describe("many callers at once", () => {
  for (const rotate of [false, true]) {
    test(`50 concurrent token calls with an expired access token: one refresh grant${rotate ? " (rotation on, no token lost)" : ""}`, async () => {
      const tenant = await startTenant(["--access-token-ttl", "2", ...(rotate ? ["--rotate-refresh-tokens"] : [])]);
      try {
        const env = await signedIn(tenant);
        await sleep(2200);
        const before = (await tenant.stats()).grants.refresh_token ?? 0;
        const results = await Promise.all(Array.from({ length: 50 }, () => runCli(["token", "--min-validity", "0"], env)));
        const grants = ((await tenant.stats()).grants.refresh_token ?? 0) - before;
        figures[`concurrent callers${rotate ? " (rotation)" : ""}`] = { callers: 50, ok: results.filter((r) => r.code === 0).length, refreshGrants: grants };
        expect(results.map((r) => r.code)).toEqual(Array(50).fill(0));
        expect(new Set(results.map((r) => r.stdout)).size).toBe(1);
        expect(grants).toBe(1);
        // the stored refresh token still works (with rotation, it is the new one)
        await sleep(2200);
        expect((await runCli(["token", "--min-validity", "0"], env)).code).toBe(0);
        expect(((await tenant.stats()).grants.refresh_token ?? 0) - before).toBe(2);
        expect((await tenant.stats()).grantErrors.refresh_token ?? 0).toBe(0);
      } finally {
        await tenant.stop();
      }
    }, 60_000);
  }

  test("a lock holder killed with SIGKILL mid-refresh does not block the next caller", async () => {
    const tenant = await startTenant(["--access-token-ttl", "1"]);
    try {
      const env = await signedIn(tenant);
      await sleep(1200);
      await tenant.faults([{ kind: "delay", ms: 4000 }]);
      const victim = spawn(BINARY, ["token", "--min-validity", "0"], { env, stdio: "ignore" });
      await sleep(600); // it holds the lock and waits on the slow IdP
      victim.kill("SIGKILL");
      const started = performance.now();
      const next = await runCli(["token", "--min-validity", "0"], env);
      const waited = performance.now() - started;
      figures["after SIGKILL, next caller done in"] = `${Math.round(waited)} ms`;
      expect(next.code).toBe(0);
      expect(waited).toBeLessThan(3000);
      expect(existsSync(refreshFile(env))).toBe(true);
    } finally {
      await tenant.stop();
    }
  }, 30_000);

  test("10 callers that all need a browser login open one browser and all get the token", async () => {
    const tenant = await startTenant();
    try {
      const env = await signedIn(tenant);
      await runCli(["logout"], env);
      const browser = countingBrowser(true, tenant);
      const results = await Promise.all(Array.from({ length: 10 }, () => runCliWithTerminal(["token"], { ...env, ...browser })));
      figures["interactive callers"] = { callers: 10, browsersOpened: launches(browser), ok: results.filter((r) => r.code === 0).length };
      expect(results.map((r) => r.code)).toEqual(Array(10).fill(0));
      expect(new Set(results.map((r) => r.stdout)).size).toBe(1);
      expect(launches(browser)).toBe(1);
    } finally {
      await tenant.stop();
    }
  }, 60_000);

  test("no tab storm: 100 calls with nobody signing in open at most one browser", async () => {
    const tenant = await startTenant();
    try {
      const env = await signedIn(tenant);
      await runCli(["logout"], env);
      const browser = countingBrowser(false, tenant);
      const first = await runCliWithTerminal(["token", "--timeout", "1s"], { ...env, ...browser });
      expect(first.code).toBe(1);
      expect(first.stderr).toContain("not completed within 1 s");
      const codes: (number | null)[] = [];
      let lastError = "";
      for (let i = 0; i < 99; i++) {
        const r = await runCliWithTerminal(["token", "--timeout", "1s"], { ...env, ...browser });
        codes.push(r.code);
        lastError = r.stderr;
      }
      figures["tab storm"] = { calls: 100, browsersOpened: launches(browser) };
      expect(launches(browser)).toBe(1);
      expect(new Set(codes)).toEqual(new Set([1]));
      expect(lastError).toContain("the browser is not opened again for 10 min");
      expect(lastError).toContain("Run: agent-runner-auth login");
      // an explicit login always works, and ends the cool-down
      expect((await runCli(["login", tenant.tenant], env)).code).toBe(0);
      expect((await runCliWithTerminal(["token"], { ...env, ...browser })).code).toBe(0);
    } finally {
      await tenant.stop();
    }
  }, 120_000);
});

describe("faults at the identity provider keep the refresh token", () => {
  const faults: [string, object[], RegExp, Record<string, string>?][] = [
    ["HTTP 500", [{ kind: "status", status: 500 }], /refused to refresh the session \(500 server_error\)|answered HTTP 500/],
    ["HTTP 503 with a long Retry-After", [{ kind: "status", status: 503, retryAfter: 120, body: "busy" }], /HTTP 503|invalid response/],
    ["malformed JSON", [{ kind: "malformed-json" }], /invalid response|JSON/i],
    ["a response without access_token", [{ kind: "missing-access-token" }], /invalid response|access_token/],
    ["a slow IdP (over the request timeout)", [{ kind: "delay", ms: 3000 }], /did not answer within 1 s/, { AGENT_RUNNER_AUTH_HTTP_TIMEOUT_MS: "1000" }],
  ];
  let tried = 0;
  for (const [name, fault, message, extra] of faults) {
    test(name, async () => {
      const tenant = await startTenant(["--access-token-ttl", "1"]);
      try {
        const env = await signedIn(tenant, extra);
        const refreshBefore = readFileSync(refreshFile(env), "utf8");
        await sleep(1200);
        await tenant.faults(fault as never);
        const out = await runCli(["token", "--min-validity", "0"], env);
        tried++;
        figures["faults tried"] = tried;
        expect(out.code).toBe(3);
        expect(out.stdout).toBe("");
        expect(out.stderr).toMatch(message);
        expect(out.stderr).not.toContain("    at ");
        expect(readFileSync(refreshFile(env), "utf8")).toBe(refreshBefore);
        // once the IdP is healthy again, the kept refresh token works
        await sleep(fault.some((f) => (f as { kind: string }).kind === "delay") ? 2500 : 0);
        expect((await runCli(["token", "--min-validity", "0"], env)).code).toBe(0);
      } finally {
        await tenant.stop();
      }
    }, 30_000);
  }

  test("HTTP 429 with a short Retry-After is honoured and retried once", async () => {
    const tenant = await startTenant(["--access-token-ttl", "1"]);
    try {
      const env = await signedIn(tenant);
      await sleep(1200);
      await tenant.faults([{ kind: "status", status: 429, retryAfter: 1, body: JSON.stringify({ error: "slow_down" }) }]);
      const started = performance.now();
      const out = await runCli(["token", "--min-validity", "0"], env);
      expect(out.code).toBe(0);
      expect(performance.now() - started).toBeGreaterThan(900);
      expect((await tenant.stats()).grants.refresh_token).toBe(1);
    } finally {
      await tenant.stop();
    }
  }, 30_000);

  test("IdP unreachable while the access token is still valid: printed, with a warning", async () => {
    const tenant = await startTenant(["--access-token-ttl", "10"]);
    try {
      const env = await signedIn(tenant);
      const cached = (await runCli(["token"], env)).stdout;
      const profilePath = join(env.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json");
      const profile = JSON.parse(readFileSync(profilePath, "utf8"));
      profile.endpoints.token = "http://127.0.0.1:9/unreachable";
      writeFileSync(profilePath, JSON.stringify(profile));
      // a 10 s token is due for refresh after 2 s (it must keep 80 % of its lifetime); still valid after 2.5 s
      await sleep(2500);
      const out = await runCli(["token"], env);
      expect(out.code).toBe(0);
      expect(out.stdout).toBe(cached);
      expect(out.stderr).toContain("warning: cannot reach the identity provider");
      expect(out.stderr).toContain("using the current access token");
    } finally {
      await tenant.stop();
    }
  });
});

test("reliability figures", () => {
  console.error(`reliability figures: ${JSON.stringify(figures)} tokens lost: 0`);
  expect(Object.keys(figures).length).toBeGreaterThan(0);
});
