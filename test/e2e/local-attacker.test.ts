/**
 * Another local user, or a cloned repository, against the CLI (issue 10, points 13 and 14):
 * the session lock cannot be planted, hijacked or used to hang `token`, a long wait says whom it
 * waits for and ends at the limit, and `setup claude` never reads or writes through a symlink.
 * Real binary, real local tenant, file store.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, rmSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { BINARY, runCli, type CliResult, signedIn } from "../support/cli.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NOBODY = 65534;

let tenant: TenantProcess;
beforeAll(async () => {
  // 1 s access tokens: after a short sleep every `token` call refreshes, under the lock.
  tenant = await startTenant(["--access-token-ttl", "1"]);
});
afterAll(() => tenant.stop());

async function loggedIn(extra: Record<string, string> = {}) {
  const env = await signedIn(tenant, extra);
  await sleep(1100); // the access token has expired: the next `token` takes the lock
  return env;
}

const locksDir = (env: Record<string, string>) => join(env.XDG_STATE_HOME!, "agent-runner-auth", "locks");
const lockFile = (env: Record<string, string>) => join(locksDir(env), "default.lock");
/** The lock file left by the login, removed so a test can plant its own. */
const removeLock = (env: Record<string, string>) => rmSync(lockFile(env), { recursive: true, force: true });
const refreshFile = (env: Record<string, string>) => join(env.XDG_DATA_HOME!, "agent-runner-auth", "tokens", "default", "refresh.json");
const token = (env: Record<string, string>, timeoutMs = 10_000) => runCli(["token", "--min-validity", "0"], env, { timeoutMs });

function expectRefused(out: CliResult, what: string) {
  expect(out.code).toBe(5);
  expect(out.stdout).toBe("");
  expect(out.stderr).toContain("refusing to use the session lock");
  expect(out.stderr).toContain(what);
}

describe("the session lock", () => {
  test("a lock directory replaced by a symlink to another directory is refused; nothing is created there", async () => {
    const env = await loggedIn();
    const elsewhere = mkdtempSync(join(tmpdir(), "ara-elsewhere-"));
    rmSync(locksDir(env), { recursive: true });
    symlinkSync(elsewhere, locksDir(env));
    const out = await token(env);
    expectRefused(out, "is a symbolic link");
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  test("a lock file that is a FIFO is refused at once, never waited on", async () => {
    const env = await loggedIn();
    removeLock(env);
    expect(spawnSync("mkfifo", [lockFile(env)]).status).toBe(0);
    const out = await token(env, 8000); // killed after 8 s if it hangs (code null)
    expectRefused(out, "is a FIFO");
    expect(out.ms).toBeLessThan(5000);
  });

  test("a lock file that is a symlink (to a file of the user's) is refused and the target left alone", async () => {
    const env = await loggedIn();
    removeLock(env);
    const target = join(mkdtempSync(join(tmpdir(), "ara-target-")), "precious");
    writeFileSync(target, "precious\n");
    symlinkSync(target, lockFile(env));
    const out = await token(env);
    expectRefused(out, "is a symbolic link");
    expect(readFileSync(target, "utf8")).toBe("precious\n");
  });

  test("a lock file hard-linked to the refresh token is refused (the holder would overwrite it)", async () => {
    const env = await loggedIn();
    removeLock(env);
    const before = readFileSync(refreshFile(env), "utf8");
    linkSync(refreshFile(env), lockFile(env));
    const out = await token(env);
    expectRefused(out, "has other hard links");
    expect(readFileSync(refreshFile(env), "utf8")).toBe(before);
  });

  test("a lock path that is a directory is refused with the clear error", async () => {
    const env = await loggedIn();
    removeLock(env);
    mkdirSync(lockFile(env));
    expectRefused(await token(env), "is a directory");
  });

  test("a lock directory of the user's left 0777 is made private again (0700) and used", async () => {
    const env = await loggedIn();
    chmodSync(locksDir(env), 0o777);
    chmodSync(lockFile(env), 0o666);
    const out = await token(env);
    expect(out.code).toBe(0);
    expect(statSync(locksDir(env)).mode & 0o777).toBe(0o700);
    expect(statSync(lockFile(env)).mode & 0o777).toBe(0o600);
  });

  test("run as root: a lock file owned by another uid is refused", async () => {
    expect(process.getuid?.()).toBe(0); // chown needs root (CI and the dev machines are root)
    const env = await loggedIn();
    removeLock(env);
    writeFileSync(lockFile(env), "", { mode: 0o666 });
    chownSync(lockFile(env), NOBODY, NOBODY);
    expectRefused(await token(env), `belongs to another user (uid ${NOBODY})`);
  });

  test("run as an unprivileged user: a lock directory or file owned by root is refused (the real uid is checked)", async () => {
    expect(process.getuid?.()).toBe(0); // setpriv to another user needs root
    const env = await loggedIn();
    spawnSync("chown", ["-R", `${NOBODY}:${NOBODY}`, env.HOME!]);
    const asNobody = (e: Record<string, string>) => runCli(["--reuid", String(NOBODY), "--regid", String(NOBODY), "--clear-groups", BINARY, "token", "--min-validity", "0"], e, { binary: "setpriv", timeoutMs: 10_000 });
    // a world-writable lock file planted by root in the user's directory
    removeLock(env);
    writeFileSync(lockFile(env), "", { mode: 0o666 });
    chmodSync(lockFile(env), 0o666);
    expectRefused(await asNobody(env), "belongs to another user (uid 0)");
    // a lock directory that is root's
    spawnSync("rm", ["-rf", locksDir(env)]);
    mkdirSync(locksDir(env), { mode: 0o777 });
    chmodSync(locksDir(env), 0o777);
    expectRefused(await asNobody(env), "belongs to another user (uid 0)");
    // with everything the user's own, it works
    spawnSync("rm", ["-rf", locksDir(env)]);
    const ok = await asNobody(env);
    expect(ok.code).toBe(0);
    expect(lstatSync(lockFile(env)).uid).toBe(NOBODY);
  });

  test("a waiter says whom it waits for after ~1.5 s and gives up at the limit (AGENT_RUNNER_LOCK_TIMEOUT_MS)", async () => {
    const env = await loggedIn();
    await tenant.faults([{ kind: "delay", ms: 6000 }]);
    const holder = spawn(BINARY, ["token", "--min-validity", "0"], { env, stdio: "ignore" });
    const holderDone = new Promise<number | null>((r) => holder.on("close", r));
    try {
      await sleep(700); // the holder has the lock and waits on the slow IdP
      const waiter = spawn(BINARY, ["token", "--min-validity", "0"], { env: { ...env, AGENT_RUNNER_LOCK_TIMEOUT_MS: "3500" }, stdio: ["ignore", "pipe", "pipe"] });
      const started = performance.now();
      const lines: { at: number; text: string }[] = [];
      let stdout = "";
      waiter.stdout.on("data", (d) => (stdout += d));
      waiter.stderr.on("data", (d) => lines.push({ at: performance.now() - started, text: String(d) }));
      const code = await new Promise<number | null>((r) => waiter.on("close", r));
      const took = performance.now() - started;
      const stderr = lines.map((l) => l.text).join("");
      const notice = lines.find((l) => l.text.includes("waiting for process"));
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toContain(`waiting for process ${holder.pid} (a refresh or sign-in for this profile) to finish; giving up in `);
      expect(notice!.at).toBeGreaterThan(1400);
      expect(notice!.at).toBeLessThan(3000);
      expect(stderr).toContain(`gave up after 4 s: process ${holder.pid} kept the session lock`);
      expect(stderr).toContain("AGENT_RUNNER_LOCK_TIMEOUT_MS");
      expect(took).toBeGreaterThan(3400);
      expect(took).toBeLessThan(6000);
      expect(await holderDone).toBe(0); // the holder itself was never disturbed
    } finally {
      holder.kill("SIGKILL");
    }
  }, 30_000);

  test("a short wait stays quiet: 50 concurrent token calls print nothing about waiting", async () => {
    const env = await loggedIn();
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 50 }, () => token(env, 30_000)));
    const took = performance.now() - started;
    console.log(`50 concurrent token calls (one refresh) in ${Math.round(took)} ms; slowest ${Math.round(Math.max(...results.map((r) => r.ms)))} ms`);
    expect(results.map((r) => r.code)).toEqual(Array(50).fill(0));
    expect(results.filter((r) => r.stderr.includes("waiting for"))).toEqual([]);
  }, 60_000);

  test("an invalid AGENT_RUNNER_LOCK_TIMEOUT_MS is a usage error that names it", async () => {
    const env = await loggedIn();
    const out = await runCli(["token", "--min-validity", "0"], { ...env, AGENT_RUNNER_LOCK_TIMEOUT_MS: "soon" });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("AGENT_RUNNER_LOCK_TIMEOUT_MS must be a whole number of milliseconds");
  });
});

describe("setup claude and symlinks", () => {
  const SECRET = '{ "aws_secret_access_key": "SECRET-do-not-copy" }\n';

  function secretFile(): string {
    const path = join(mkdtempSync(join(tmpdir(), "ara-secret-")), "credentials.json");
    writeFileSync(path, SECRET, { mode: 0o600 });
    return path;
  }

  /** A cloned repository; `setup` runs in it (env -C). */
  function repo(): string {
    return mkdtempSync(join(tmpdir(), "ara-repo-"));
  }

  const setupIn = (dir: string, args: string[], env: Record<string, string>) => runCli(["-C", dir, BINARY, "setup", "claude", ...args], env, { binary: "env", timeoutMs: 10_000 });

  function listing(dir: string): string[] {
    return spawnSync("find", [dir, "-printf", "%P %y\\n"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).sort();
  }

  function expectSymlinkRefused(out: CliResult, path: string) {
    expect(out.code).toBe(5);
    expect(out.stderr).toContain(`refusing to use ${path}: it is a symbolic link`);
    expect(out.stderr).not.toContain("SECRET");
    expect(out.stdout).not.toContain("SECRET");
  }

  for (const [scope, name] of [
    ["project", "settings.json"],
    ["local", "settings.local.json"],
  ] as const) {
    test(`--scope ${scope}: .claude/${name} a symlink to a secret is refused; the secret is not copied, the repo untouched`, async () => {
      const env = await loggedIn();
      const secret = secretFile();
      const dir = repo();
      mkdirSync(join(dir, ".claude"));
      symlinkSync(secret, join(dir, ".claude", name));
      const before = listing(dir);
      for (const extra of [[], ["--dry-run"], ["--remove"]]) {
        const out = await setupIn(dir, ["--scope", scope, ...extra], env);
        expectSymlinkRefused(out, join(dir, ".claude", name));
      }
      expect(listing(dir)).toEqual(before);
      expect(lstatSync(join(dir, ".claude", name)).isSymbolicLink()).toBe(true);
      expect(readFileSync(secret, "utf8")).toBe(SECRET);
    });
  }

  test("a .claude directory that is a symlink is refused; nothing is written where it points", async () => {
    const env = await loggedIn();
    const dir = repo();
    const elsewhere = mkdtempSync(join(tmpdir(), "ara-elsewhere-"));
    writeFileSync(join(elsewhere, "settings.json"), SECRET);
    symlinkSync(elsewhere, join(dir, ".claude"));
    const out = await setupIn(dir, ["--scope", "project"], env);
    expectSymlinkRefused(out, join(dir, ".claude"));
    expect(readdirSync(elsewhere)).toEqual(["settings.json"]);
    expect(readFileSync(join(elsewhere, "settings.json"), "utf8")).toBe(SECRET);
  });

  test("user scope: ~/.claude/settings.json or $CLAUDE_CONFIG_DIR as a symlink is refused", async () => {
    const env = await loggedIn();
    const secret = secretFile();
    mkdirSync(join(env.HOME!, ".claude"));
    symlinkSync(secret, join(env.HOME!, ".claude", "settings.json"));
    expectSymlinkRefused(await runCli(["setup", "claude"], env), join(env.HOME!, ".claude", "settings.json"));

    const elsewhere = mkdtempSync(join(tmpdir(), "ara-elsewhere-"));
    const configDir = join(env.HOME!, "claude-config");
    symlinkSync(elsewhere, configDir);
    // a trailing slash must not make the check follow the link
    const out = await runCli(["setup", "claude"], { ...env, CLAUDE_CONFIG_DIR: `${configDir}/` });
    expectSymlinkRefused(out, configDir);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readFileSync(secret, "utf8")).toBe(SECRET);
  });

  test("a settings file that is a FIFO is refused at once, never waited on", async () => {
    const env = await loggedIn();
    mkdirSync(join(env.HOME!, ".claude"));
    expect(spawnSync("mkfifo", [join(env.HOME!, ".claude", "settings.json")]).status).toBe(0);
    const out = await runCli(["setup", "claude"], env, { timeoutMs: 8000 });
    expect(out.code).toBe(5);
    expect(out.stderr).toContain("is not a regular file");
  });

  test("a symlink planted at the backup's name is replaced, not followed; the backup keeps the original's mode (0660)", async () => {
    const env = await loggedIn();
    const dir = repo();
    mkdirSync(join(dir, ".claude"));
    const settings = join(dir, ".claude", "settings.json");
    const original = '{ "model": "opus" }\n';
    writeFileSync(settings, original);
    chmodSync(settings, 0o660); // group-writable: a umask of 022 would turn a copy into 0640
    const target = join(mkdtempSync(join(tmpdir(), "ara-target-")), "precious");
    writeFileSync(target, "precious\n");
    symlinkSync(target, `${settings}.agent-runner-auth.bak`);
    const out = await setupIn(dir, ["--scope", "project"], env);
    expect(out.code).toBe(0);
    expect(readFileSync(target, "utf8")).toBe("precious\n");
    const backup = lstatSync(`${settings}.agent-runner-auth.bak`);
    expect(backup.isFile()).toBe(true);
    expect(backup.mode & 0o777).toBe(0o660);
    expect(readFileSync(`${settings}.agent-runner-auth.bak`, "utf8")).toBe(original);
    expect(statSync(settings).mode & 0o777).toBe(0o660);
    expect(existsSync(settings)).toBe(true);
  });
});
