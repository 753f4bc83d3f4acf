/**
 * The `pass` store for real (gpg key, PASSWORD_STORE_DIR), its failures as clear messages, and
 * moving a profile between stores without losing the session.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { createPassStore, passShow, stopPassStores } from "../support/pass.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(async () => {
  stopPassStores();
  await tenant.stop();
});

function env(extra: Record<string, string> = {}) {
  const user = tenant.users[0]!;
  return baseEnv({ ...isolatedHome(), ...scriptedBrowser(user.username, user.password), ...extra });
}

test("login, token, status and logout with --store pass; secrets never in argv", async () => {
  // a `pass` shim first on PATH records every argument list it is called with
  const shimDir = mkdtempSync(join(tmpdir(), "ara-shim-"));
  const argvLog = join(shimDir, "argv.log");
  writeFileSync(join(shimDir, "pass"), `#!/bin/sh\necho "$@" >> ${argvLog}\nexec /usr/bin/pass "$@"\n`, { mode: 0o755 });
  const e = env({ ...createPassStore(), PATH: `${shimDir}:${process.env.PATH}` });
  const login = await runCli(["login", tenant.tenant, "--store", "pass"], e);
  expect(login.stderr).toContain("Logged in as demo");
  expect(login.code).toBe(0);
  const token = await runCli(["token"], e); // the profile remembers the store
  expect(token.code).toBe(0);
  expect(JSON.parse(passShow(e, "agent-runner-auth/default/access")!).token).toBe(token.stdout.trim());
  expect(passShow(e, "agent-runner-auth/default/refresh")).toContain('"token"');
  expect(JSON.parse((await runCli(["status", "--json"], e)).stdout)).toMatchObject({ store: "pass", logged_in: true });
  // the gpg files exist, and no plaintext token is anywhere in the store directory
  const grep = spawnSync("grep", ["-rl", token.stdout.trim().slice(20, 60), e.PASSWORD_STORE_DIR!, e.XDG_CONFIG_HOME!, e.XDG_DATA_HOME!]);
  expect(grep.stdout.toString()).toBe("");
  expect((await runCli(["logout"], e)).code).toBe(0);
  expect(passShow(e, "agent-runner-auth/default/refresh")).toBeNull();
  const argv = readFileSync(argvLog, "utf8");
  expect(argv).toContain("insert --multiline --force agent-runner-auth/default/refresh");
  expect(argv).not.toContain(token.stdout.trim().slice(20, 60));
  expect(argv).not.toContain('"token"');
}, 60_000);

test("an uninitialised password store is a clear message with exit 4, before the browser opens", async () => {
  const e = env({ PASSWORD_STORE_DIR: mkdtempSync(join(tmpdir(), "ara-nopass-")), GNUPGHOME: mkdtempSync(join(tmpdir(), "ara-nogpg-")) });
  const login = await runCli(["login", tenant.tenant, "--store", "pass"], e);
  expect(login.code).toBe(4);
  expect(login.stderr).toContain("pass failed to store the probe token");
  expect(login.stderr).toMatch(/pass init|gpg/);
  expect(login.stderr).not.toContain("Opened your browser");
});

test("a gpg key that cannot decrypt is a clear message with exit 4, not 'not logged in'", async () => {
  const passEnv = createPassStore();
  const e = env(passEnv);
  expect((await runCli(["login", tenant.tenant, "--store", "pass"], e)).code).toBe(0);
  const token = await runCli(["token"], { ...e, GNUPGHOME: mkdtempSync(join(tmpdir(), "ara-othergpg-")) });
  expect(token.code).toBe(4);
  expect(token.stderr).toContain("pass failed to read the access token");
  expect(token.stderr).toContain("gpg");
  expect(token.stderr).not.toContain("not logged in");
});

test("move-store copies the session to the new store, checks it, then deletes the old copy", async () => {
  const passEnv = createPassStore();
  const e = env(passEnv);
  expect((await runCli(["login", tenant.tenant, "--store", "file"], e)).code).toBe(0);
  const before = (await runCli(["token"], e)).stdout;
  const fileDir = join(e.XDG_DATA_HOME!, "agent-runner-auth", "tokens", "default");
  const refreshBefore = JSON.parse(readFileSync(join(fileDir, "refresh.json"), "utf8")).token;
  const moved = await runCli(["move-store", "pass"], e);
  expect(moved.stderr).toContain('Moved profile "default" from the file store to the pass store');
  expect(moved.code).toBe(0);
  expect(existsSync(join(fileDir, "refresh.json"))).toBe(false);
  expect(JSON.parse(passShow(e, "agent-runner-auth/default/refresh")!).token).toBe(refreshBefore);
  const after = await runCli(["token"], e);
  expect(after.stdout).toBe(before);
  expect(JSON.parse((await runCli(["status", "--json"], e)).stdout)).toMatchObject({ store: "pass", logged_in: true });
  // moving into a store that does not work changes nothing
  const broken = await runCli(["move-store", "keychain"], { ...e, DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent" });
  expect(broken.code).toBe(4);
  expect((await runCli(["token"], e)).stdout).toBe(before);
}, 60_000);
