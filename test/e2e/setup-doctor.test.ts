/** `setup claude`, `doctor` and `completion` through the binary: files, wording, exit codes. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { BINARY, baseEnv, isolatedHome, runCli, scriptedBrowser, signedIn } from "../support/cli.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(() => tenant.stop());


const settingsFile = (env: Record<string, string>) => join(env.HOME!, ".claude", "settings.json");

describe("setup claude", () => {
  test("writes the seed's configuration with the binary's absolute path; twice changes nothing", async () => {
    const env = await signedIn(tenant);
    const first = await runCli(["setup", "claude"], env);
    expect(first.code).toBe(0);
    expect(JSON.parse(readFileSync(settingsFile(env), "utf8"))).toEqual({
      apiKeyHelper: `${BINARY} token`,
      env: { CLAUDE_CODE_API_KEY_HELPER_TTL_MS: "3300000", ANTHROPIC_BASE_URL: `${tenant.tenant}/anthropic/v1` },
    });
    const second = await runCli(["setup", "claude"], env);
    expect(second.stderr).toContain("already up to date");
    expect(existsSync(settingsFile(env) + ".agent-runner-auth.bak")).toBe(false);
  });

  test("merges into existing settings with a backup, keeps the file mode; --profile goes into the helper", async () => {
    const env = await signedIn(tenant);
    expect((await runCli(["login", tenant.tenant, "--profile", "work"], env)).code).toBe(0);
    mkdirSync(join(env.HOME!, ".claude"));
    const original = '{\n  "model": "opus",\n  "env": {"DISABLE_TELEMETRY": "1"}\n}\n';
    writeFileSync(settingsFile(env), original, { mode: 0o640 });
    const out = await runCli(["setup", "claude", "--profile", "work"], env);
    expect(out.code).toBe(0);
    expect(readFileSync(settingsFile(env) + ".agent-runner-auth.bak", "utf8")).toBe(original);
    const settings = JSON.parse(readFileSync(settingsFile(env), "utf8"));
    expect(settings).toMatchObject({ model: "opus", apiKeyHelper: `${BINARY} token --profile work`, env: { DISABLE_TELEMETRY: "1" } });
    expect(statSync(settingsFile(env)).mode & 0o777).toBe(0o640);
    // --remove takes our keys out again
    expect((await runCli(["setup", "claude", "--remove"], env)).code).toBe(0);
    expect(JSON.parse(readFileSync(settingsFile(env), "utf8"))).toEqual({ model: "opus", env: { DISABLE_TELEMETRY: "1" } });
  });

  test("a profile signed in with --issuer: setup claude asks for --base-url (doctor says so too), then writes it", async () => {
    const user = tenant.users[0]!;
    const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password) });
    const redirect = `http://localhost:${tenant.redirectPorts[0]}/callback`;
    expect((await runCli(["login", "--issuer", tenant.issuer, "--client-id", "agent-runner-cli", "--redirect-uri", redirect], env)).code).toBe(0);
    const refused = await runCli(["setup", "claude"], env);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain("setup claude --base-url https://<slug>.proxy.<domain>/anthropic/v1");
    const before = await runCli(["doctor", "--json"], env);
    const check = (JSON.parse(before.stdout) as { checks: { name: string; verdict: string; fix?: string }[] }).checks.find((c) => c.name === "claude settings");
    expect(check).toMatchObject({ verdict: "fail" });
    expect(check!.fix).toContain("--base-url");
    const base = `${tenant.tenant}/anthropic/v1`;
    expect((await runCli(["setup", "claude", "--base-url", base], env)).code).toBe(0);
    expect(JSON.parse(readFileSync(settingsFile(env), "utf8")).env.ANTHROPIC_BASE_URL).toBe(base);
    const after = await runCli(["doctor", "--json"], env);
    expect((JSON.parse(after.stdout) as { checks: { name: string; verdict: string }[] }).checks.find((c) => c.name === "claude settings")).toMatchObject({ verdict: "pass" });
  });

  test("a settings file that is not valid JSON is refused with its path and left untouched", async () => {
    const env = await signedIn(tenant);
    mkdirSync(join(env.HOME!, ".claude"));
    writeFileSync(settingsFile(env), '{ "model": "opus", }');
    const out = await runCli(["setup", "claude"], env);
    expect(out.code).toBe(5);
    expect(out.stderr).toContain(`${settingsFile(env)} is not valid JSON`);
    expect(out.stderr).toContain("left untouched");
    expect(readFileSync(settingsFile(env), "utf8")).toBe('{ "model": "opus", }');
  });

  test("--dry-run prints a diff and writes nothing; --scope project and local pick the project files", async () => {
    const env = await signedIn(tenant);
    const dry = await runCli(["setup", "claude", "--dry-run"], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('+  "apiKeyHelper": "' + BINARY + ' token"');
    expect(existsSync(settingsFile(env))).toBe(false);
    const project = join(env.HOME!, "project");
    mkdirSync(project);
    for (const [scope, file] of [["project", "settings.json"], ["local", "settings.local.json"]]) {
      const r = spawnSync(BINARY, ["setup", "claude", "--scope", scope!], { env, cwd: project, encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(JSON.parse(readFileSync(join(project, ".claude", file!), "utf8")).apiKeyHelper).toBe(`${BINARY} token`);
    }
    expect((await runCli(["setup", "claude", "--scope", "global"], env)).stderr).toContain("--scope must be user, project or local");
  });

  test("warns about ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN, saying what to unset", async () => {
    const env = await signedIn(tenant);
    const out = await runCli(["setup", "claude"], { ...env, ANTHROPIC_API_KEY: "sk-ant-old", ANTHROPIC_AUTH_TOKEN: "x" });
    expect(out.code).toBe(0);
    expect(out.stderr).toContain("ANTHROPIC_API_KEY is set in your environment and overrides the apiKeyHelper in Claude Code. Run: unset ANTHROPIC_API_KEY");
    expect(out.stderr).toContain("Run: unset ANTHROPIC_AUTH_TOKEN");
  });
});

describe("doctor", () => {
  test("fails on each broken link with its fix; passes when all is well; --json", async () => {
    const env = await signedIn(tenant);
    const before = await runCli(["doctor"], env);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain("✗ claude settings");
    expect(before.stderr).toContain("fix: agent-runner-auth setup claude");
    await runCli(["setup", "claude"], env);
    const ok = await runCli(["doctor", "--json"], env);
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual(["binary", "profile", "store", "session", "identity provider", "proxy", "gateway probe", "gateway auth", "count_tokens", "streaming", "claude settings", "sign-in here", "environment", "helper TTL"]);
    const verdicts = Object.fromEntries(report.checks.map((c: { name: string; verdict: string }) => [c.name, c.verdict]));
    // the streamed request is sent only with --deep; "sign-in here" warns in a container or over SSH (this machine may be one)
    expect(verdicts.streaming).toBe("skip");
    expect(["pass", "warn"]).toContain(verdicts["sign-in here"]);
    for (const [name, verdict] of Object.entries(verdicts)) if (name !== "streaming" && name !== "sign-in here") expect(`${name}: ${verdict}`).toBe(`${name}: pass`);
    const conflicting = await runCli(["doctor"], { ...env, ANTHROPIC_AUTH_TOKEN: "x" });
    expect(conflicting.code).toBe(1);
    expect(conflicting.stderr).toContain("✗ environment");
    expect(conflicting.stderr).toContain("fix: unset ANTHROPIC_AUTH_TOKEN");
    const noColour = await runCli(["doctor"], { ...env, NO_COLOR: "1" });
    expect(noColour.stderr).not.toContain("\x1b[");
  });

  test("no profile: fails with the login command", async () => {
    const env = baseEnv(isolatedHome());
    const out = await runCli(["doctor", "--json"], env);
    expect(out.code).toBe(1);
    const report = JSON.parse(out.stdout);
    expect(report.checks.find((c: { name: string }) => c.name === "profile")).toMatchObject({ verdict: "fail", fix: "agent-runner-auth login <tenant URL>" });
  });
});

test("completion scripts for bash, zsh, fish and powershell; bash's is valid shell", async () => {
  const env = baseEnv(isolatedHome());
  for (const shell of ["bash", "zsh", "fish", "powershell"]) {
    const out = await runCli(["completion", shell], env);
    expect(out.code).toBe(0);
    for (const command of ["login", "token", "status", "logout", "setup", "doctor"]) expect(out.stdout).toContain(command);
  }
  const bash = (await runCli(["completion", "bash"], env)).stdout;
  const check = spawnSync("bash", ["-n"], { input: bash });
  expect(check.status).toBe(0);
  const complete = spawnSync("bash", ["-c", `${bash}\nCOMP_WORDS=(agent-runner-auth login --st); COMP_CWORD=2; _agent_runner_auth; echo "\${COMPREPLY[@]}"`], { encoding: "utf8" });
  expect(complete.stdout.trim()).toBe("--store");
  expect((await runCli(["completion", "tcsh"], env)).code).toBe(2);
});
