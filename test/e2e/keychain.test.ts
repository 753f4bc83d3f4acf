/**
 * The real Secret Service (gnome-keyring on a private D-Bus) in the built binary: writes through
 * @napi-rs/keyring, reads through the direct D-Bus path (secret-service-fast.ts) with keyring-rs
 * behind it for whatever that path declines; the default store, separate entries per token, and
 * the clear errors for a locked keyring and a missing D-Bus (exit 4, never a stack trace, never
 * "invalid token"). dbus-monitor tells the two read paths apart: the direct one opens "plain"
 * sessions, keyring-rs Diffie-Hellman ones.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { monitorBus, secretToolLookup, secretToolStore, startSecretService, type SecretService } from "../support/keyring.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(() => tenant.stop());

function env(home: Record<string, string>, extra: Record<string, string> = {}) {
  const user = tenant.users[0]!;
  return baseEnv({ ...home, ...scriptedBrowser(user.username, user.password), ...extra });
}

describe("unlocked gnome-keyring", () => {
  let service: SecretService;
  let home: Record<string, string>;
  beforeAll(() => {
    home = isolatedHome();
    service = startSecretService(home, { unlocked: true });
  });
  afterAll(() => service.stop());

  test("login stores each token as its own keychain entry; token reads it back", async () => {
    const e = env(home, service.env);
    const login = await runCli(["login", tenant.tenant], e);
    expect(login.stderr).toContain("Secret Service");
    expect(login.code).toBe(0);
    const token = await runCli(["token"], e);
    expect(token.code).toBe(0);
    const stored = secretToolLookup(service.env, { service: "agent-runner-auth", username: "default:access" });
    expect(JSON.parse(stored!).token).toBe(token.stdout.trim());
    expect(secretToolLookup(service.env, { service: "agent-runner-auth", username: "default:refresh" })).toContain('"token"');
    expect(secretToolLookup(service.env, { service: "agent-runner-auth", username: "default:id" })?.split(".")).toHaveLength(3);
    // the profile remembers the store; nothing secret is in the config file
    const profile = readFileSync(join(home.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json"), "utf8");
    expect(JSON.parse(profile).store).toBe("keychain");
    expect(profile).not.toContain(token.stdout.trim().slice(0, 40));
    const status = await runCli(["status", "--json"], e);
    expect(JSON.parse(status.stdout)).toMatchObject({ store: "keychain", logged_in: true });
    const logout = await runCli(["logout"], e);
    expect(logout.code).toBe(0);
    expect(secretToolLookup(service.env, { service: "agent-runner-auth", username: "default:refresh" })).toBeNull();
  });

  test("token reads what keyring-rs wrote over the direct path (no keyring-rs), and what secret-tool wrote", async () => {
    const e = env(home, service.env);
    expect((await runCli(["login", tenant.tenant, "--profile", "direct"], e)).code).toBe(0);
    const access = { service: "agent-runner-auth", username: "direct:access" };
    const monitor = await monitorBus(service.env);
    const token = await runCli(["token", "--profile", "direct"], e);
    const traffic = await monitor.stop();
    expect(token.code).toBe(0);
    expect(JSON.parse(secretToolLookup(service.env, access)!).token).toBe(token.stdout.trim());
    // one plain session, one search, one read: keyring-rs (a DH session) was not asked
    expect(traffic.sessions).toEqual(["plain"]);
    expect(traffic.calls).toEqual(["OpenSession", "SearchItems", "GetSecrets"]);

    // the same entry rewritten by another libsecret client (secret-tool): still found and read
    const stored = secretToolLookup(service.env, access)!;
    expect(spawnSync("secret-tool", ["clear", ...Object.entries(access).flat()], { env: { ...process.env, ...service.env } }).status).toBe(0);
    secretToolStore(service.env, access, stored);
    const again = await runCli(["token", "--profile", "direct"], e);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(token.stdout);
    expect((await runCli(["logout", "--profile", "direct"], e)).code).toBe(0);
    expect(secretToolLookup(service.env, access)).toBeNull(); // keyring-rs deletes what secret-tool wrote
  });
});

describe("values split across entries (Windows' item limit, injected small here)", () => {
  test("login, token, refresh and logout with a 300-byte item limit against the real Secret Service", async () => {
    const home = isolatedHome();
    const service = startSecretService(home, { unlocked: true });
    try {
      const e = env(home, { ...service.env, AGENT_RUNNER_AUTH_KEYCHAIN_MAX_ITEM_BYTES: "300" });
      expect((await runCli(["login", tenant.tenant], e)).code).toBe(0);
      const monitor = await monitorBus(service.env);
      const token = await runCli(["token"], e);
      const traffic = await monitor.stop();
      expect(token.code).toBe(0);
      expect(token.stdout.trim().length).toBeGreaterThan(600);
      // the manifest and every chunk keyring-rs wrote, read over one direct connection
      expect(traffic.sessions).toEqual(["plain"]);
      expect(traffic.calls.filter((c) => c === "GetSecrets").length).toBeGreaterThanOrEqual(4);
      // the head entry is a manifest, the token lives in chunks
      expect(secretToolLookup(service.env, { service: "agent-runner-auth", username: "default:access" })).toStartWith("agent-runner-auth:chunked:v1:");
      const status = await runCli(["status", "--json"], e);
      expect(JSON.parse(status.stdout)).toMatchObject({ logged_in: true, user: "demo" });
      expect((await runCli(["logout"], e)).code).toBe(0);
      expect(secretToolLookup(service.env, { service: "agent-runner-auth", username: "default:access" })).toBeNull();
    } finally {
      service.stop();
    }
  });
});

describe("failures are clear messages with exit 4", () => {
  test("a locked keyring (no unlock, no display)", async () => {
    const home = isolatedHome();
    const service = startSecretService(home, { unlocked: false });
    try {
      const login = await runCli(["login", tenant.tenant], env(home, service.env));
      expect(login.code).toBe(4);
      expect(login.stderr).toContain("keyring is locked");
      expect(login.stderr).toContain("--store pass or --store file");
      expect(login.stderr).not.toMatch(/invalid token|    at /);
    } finally {
      service.stop();
    }
  });

  test("a keyring locked after login: token says it is locked (exit 4), the direct path handing over to keyring-rs", async () => {
    const home = isolatedHome();
    let service = startSecretService(home, { unlocked: true });
    try {
      expect((await runCli(["login", tenant.tenant], env(home, service.env))).code).toBe(0);
      service.stop();
      service = startSecretService(home, { unlocked: false }); // same keyring file, locked
      const monitor = await monitorBus(service.env);
      const token = await runCli(["token"], env(home, service.env));
      const traffic = await monitor.stop();
      expect(token.code).toBe(4);
      expect(token.stdout).toBe("");
      expect(token.stderr).toContain("keyring is locked");
      expect(token.stderr).not.toMatch(/not logged in|invalid token|    at /);
      expect(traffic.sessions[0]).toBe("plain");
      expect(traffic.sessions.slice(1).length).toBeGreaterThan(0);
      expect(traffic.sessions.slice(1).every((s) => s.startsWith("dh-"))).toBe(true); // then keyring-rs
      expect(traffic.calls).not.toContain("GetSecrets");
    } finally {
      service.stop();
    }
  });

  test("no D-Bus session bus", async () => {
    const home = isolatedHome();
    const login = await runCli(["login", tenant.tenant], env(home));
    expect(login.code).toBe(4);
    expect(login.stderr).toContain("no D-Bus session bus");
    expect(login.stderr).toContain("dbus-run-session");
    expect(login.stderr).not.toMatch(/invalid token|    at /);
  });

  test("a keychain that hangs is abandoned (within 10 s without a terminal) with a clear message", async () => {
    const home = isolatedHome();
    const service = startSecretService(home, { unlocked: true });
    try {
      const e = env(home, service.env);
      expect((await runCli(["login", tenant.tenant], e)).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1000)); // let the daemon finish what login asked of it
      service.pause();
      const token = await runCli(["token"], e, { timeoutMs: 30_000 });
      service.resume();
      expect(token.code).toBe(4);
      expect(token.stdout).toBe("");
      // D-Bus's own reply timeout or ours (10 s), whichever comes first
      expect(token.stderr).toMatch(/the keychain did not answer (within 10 s )?while trying to read the access token/);
      expect(token.stderr).not.toContain("keyring is locked");
      expect(token.ms).toBeLessThan(12_000);
      expect((await runCli(["token"], e)).code).toBe(0); // and once it answers again, all is well
    } finally {
      service.stop();
    }
  }, 40_000);

  test("a session in the keychain becomes unreachable: token says so, not 'log in'", async () => {
    const home = isolatedHome();
    const service = startSecretService(home, { unlocked: true });
    const e = env(home, service.env);
    expect((await runCli(["login", tenant.tenant], e)).code).toBe(0);
    service.stop();
    const token = await runCli(["token"], { ...e, DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/bus" });
    expect(token.code).toBe(4);
    expect(token.stdout).toBe("");
    expect(token.stderr).not.toContain("not logged in");
    expect(token.stderr).toContain("no D-Bus session bus");
    const unset = await runCli(["token"], { ...e, DBUS_SESSION_BUS_ADDRESS: "" });
    expect(unset.code).toBe(4);
    expect(unset.stderr).toContain("no D-Bus session bus");
  });
});
