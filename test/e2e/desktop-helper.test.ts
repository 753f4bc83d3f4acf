/**
 * The Claude Desktop helper contract, run the way Desktop runs it: the alias
 * `agent-runner-auth-desktop-helper[.P]` (a symlink to the real built binary), no arguments, no
 * terminal, CLAUDE_HELPER_CONTEXT set, killed after Desktop's limit (20 s mid-session, 60 s
 * otherwise). Against the real local tenant.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(async () => {
  await tenant?.stop();
});

function alias(profile?: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "ara-desktop-")), `agent-runner-auth-desktop-helper${profile ? `.${profile}` : ""}`);
  symlinkSync(BINARY, path);
  return path;
}
const limitFor = (context: string) => (context === "mid-session-refresh" ? 20_000 : 60_000);
/** As Desktop: the alias, no arguments, stdin closed, no terminal. */
const runHelper = (helper: string, context: string, env: Record<string, string>) => runCli([], { ...env, CLAUDE_HELPER_CONTEXT: context }, { binary: helper, timeoutMs: limitFor(context) });

describe("Claude Desktop runs the helper alias", () => {
  test("a stored session: every context answers {token, headers} on stdout and nothing else", async () => {
    const home = isolatedHome();
    expect((await runCli(["login", tenant.tenant, "--store", "file", "--profile", "work"], baseEnv({ ...home, ...scriptedBrowser("demo", "demo-password-1") }))).code).toBe(0);
    const helper = alias("work");
    for (const context of ["interactive", "mid-session-refresh", "scheduled-task", "background", "setup-test"]) {
      const r = await runHelper(helper, context, baseEnv(home));
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(Object.keys(out).sort()).toEqual(["headers", "token"]);
      expect(out.token.split(".")).toHaveLength(3);
      expect(r.stdout.trim().split("\n")).toHaveLength(1);
    }
  });

  test("no session: the background contexts fail fast with exit 1 and one line naming the command", async () => {
    const home = isolatedHome();
    expect((await runCli(["login", tenant.tenant, "--store", "file"], baseEnv({ ...home, ...scriptedBrowser("demo", "demo-password-1") }))).code).toBe(0);
    expect((await runCli(["logout"], baseEnv(home))).code).toBe(0);
    const helper = alias();
    for (const context of ["mid-session-refresh", "background", "scheduled-task", "setup-test"]) {
      // DISPLAY and a BROWSER are there: still no browser may open outside `interactive`
      const r = await runHelper(helper, context, baseEnv({ ...home, DISPLAY: ":0", BROWSER: "/bin/false" }));
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(5000);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trim().split("\n").filter((l) => !l.includes("using the file store"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("Run: agent-runner-auth login");
    }
  });

  test("interactive with a display and no terminal: the browser sign-in runs and the JSON comes back", async () => {
    const home = isolatedHome();
    expect((await runCli(["login", tenant.tenant, "--store", "file"], baseEnv({ ...home, ...scriptedBrowser("demo", "demo-password-1") }))).code).toBe(0);
    expect((await runCli(["logout"], baseEnv(home))).code).toBe(0);
    const r = await runHelper(alias(), "interactive", baseEnv({ ...home, DISPLAY: ":0", ...scriptedBrowser("demo", "demo-password-1") }));
    expect(r.stderr).toContain("Opened your browser");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).token.split(".")).toHaveLength(3);
  });

  test("the same binary under its own name still refuses to run without a command (the alias is the name only)", async () => {
    const r = await runCli([], baseEnv(isolatedHome()));
    expect(r.code).toBe(2);
  });
});
