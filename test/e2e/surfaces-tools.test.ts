/**
 * Issue 11's tool surfaces through the real binary and the real local tenant: `exec` (a bun
 * script calls the proxy with the environment it gets; exit codes and SIGTERM passed through),
 * `env` (eval'd by a real bash, then curl), `setup claude-desktop` (config library, helper alias
 * run the way Desktop runs it, --mdm parsed as a plist) and `setup claude --mcp-server`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parsePlist } from "plist";
import { BUN, startTenant, type TenantProcess } from "../support/tenant.ts";
import { BINARY, baseEnv, isolatedHome, runCli, signedIn, execReceivingTerm } from "../support/cli.ts";

let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(() => tenant.stop());


/** A small SDK-like client: one request to the gateway with what `exec` put in its environment. */
const CLIENT = `
const base = process.env.ANTHROPIC_BASE_URL;
const r = await fetch(base + "/v1/messages", {
  method: "POST",
  headers: { authorization: "Bearer " + process.env.ANTHROPIC_AUTH_TOKEN, "anthropic-version": "2023-06-01", "content-type": "application/json" },
  body: JSON.stringify({ model: "claude-stub", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
});
const body = await r.json();
console.log(JSON.stringify({ status: r.status, text: body.content?.[0]?.text, apiKey: process.env.ANTHROPIC_API_KEY ?? null, base }));
process.exit(Number(process.argv[2] ?? 0));
`;

function scriptFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "ara-exec-")), "client.ts");
  writeFileSync(file, text);
  return file;
}

describe("exec", () => {
  test("the child calls the proxy with the base URL and a fresh token; ANTHROPIC_API_KEY removed; its exit code 7 is ours; our stdout is only the child's", async () => {
    const env = await signedIn(tenant, { ANTHROPIC_API_KEY: "sk-ant-should-not-reach-the-child" });
    const out = await runCli(["exec", "--", BUN, scriptFile(CLIENT), "7"], env);
    expect(out.code).toBe(7);
    const answer = JSON.parse(out.stdout);
    expect(answer).toEqual({ status: 200, text: expect.stringContaining("Your token was verified by the proxy"), apiKey: null, base: `${tenant.tenant}/anthropic/v1` });
    expect(out.stdout.trim().split("\n")).toHaveLength(1);
    expect(out.stderr).toMatch(/token valid for \d+ min \(until .*Z\)/);
  }, 30_000);

  test("SIGTERM sent to exec reaches the child, and exec exits 143 like the child", async () => {
    const env = await signedIn(tenant);
    const { code, trapped } = await execReceivingTerm([], env);
    expect(code).toBe(143);
    expect(trapped).toBe("got-term\n");
  }, 30_000);

  test("a command that does not exist: 127 and one line", async () => {
    const env = await signedIn(tenant);
    const out = await runCli(["exec", "--", "no-such-command-ara"], env);
    expect(out.code).toBe(127);
    expect(out.stderr).toContain('"no-such-command-ara": command not found');
  }, 30_000);

  test("not logged in: exit 1 naming login; the command does not run", async () => {
    const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", CI: "1" });
    const out = await runCli(["exec", "--", "sh", "-c", "echo ran"], env);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe("");
  });
});

describe("env", () => {
  test('eval "$(agent-runner-auth env)" in bash, then curl the proxy', async () => {
    const env = await signedIn(tenant, { ANTHROPIC_API_KEY: "sk-ant-old" });
    const script = `eval "$("$ARA" env --shell bash)" && test -z "\${ANTHROPIC_API_KEY+x}" && curl -sS -X POST "$ANTHROPIC_BASE_URL/v1/messages" -H "authorization: Bearer $ANTHROPIC_AUTH_TOKEN" -H "anthropic-version: 2023-06-01" -H "content-type: application/json" -d '{"model":"claude-stub","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'`;
    const out = spawnSync("bash", ["-c", script], { env: { ...env, ARA: BINARY }, encoding: "utf8", timeout: 30_000 });
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout).content[0].text).toContain("Your token was verified by the proxy");
    expect(out.stderr).toContain("token valid for");
  }, 30_000);

  test("fish and PowerShell output: parsed, the same values", async () => {
    const env = await signedIn(tenant);
    const sh = await runCli(["env", "--shell", "sh"], env);
    const token = /ANTHROPIC_AUTH_TOKEN='([^']+)'/.exec(sh.stdout)![1]!;
    const fish = await runCli(["env", "--shell", "fish"], env);
    expect(fish.stdout.split("\n")).toEqual(["set -e ANTHROPIC_API_KEY;", `set -gx ANTHROPIC_BASE_URL '${tenant.tenant}/anthropic/v1';`, `set -gx ANTHROPIC_AUTH_TOKEN '${token}';`, ""]);
    const ps = await runCli(["env", "--shell", "powershell"], env);
    expect(ps.stdout.split("\n")).toEqual(["Remove-Item -ErrorAction SilentlyContinue Env:ANTHROPIC_API_KEY", `$env:ANTHROPIC_BASE_URL = '${tenant.tenant}/anthropic/v1'`, `$env:ANTHROPIC_AUTH_TOKEN = '${token}'`, ""]);
    for (const [shell, run] of [["fish", ["fish", "-c", "source; echo $ANTHROPIC_AUTH_TOKEN"]], ["pwsh", ["pwsh", "-NoProfile", "-Command", "$input | Out-String | Invoke-Expression; $env:ANTHROPIC_AUTH_TOKEN"]]] as const) {
      if (!Bun.which(shell)) continue; // not installed here: the parse above is the check
      const real = spawnSync(run[0], run.slice(1), { input: shell === "fish" ? fish.stdout : ps.stdout, encoding: "utf8" });
      expect(real.stdout.trim()).toBe(token);
    }
  }, 30_000);
});

describe("setup claude-desktop", () => {
  const library = (env: Record<string, string>) => join(env.HOME!, "Library", "Application Support", "Claude-3p", "configLibrary");

  test("on Linux: a clear refusal naming the platforms, exit 2", async () => {
    const env = await signedIn(tenant);
    const out = await runCli(["setup", "claude-desktop"], env);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("Claude Desktop runs on macOS and Windows");
  }, 30_000);

  test("as on macOS (test hook): dry-run writes nothing; then the entry, _meta.json and the alias; the alias run as Desktop runs it prints {token}; doctor checks it", async () => {
    const env = await signedIn(tenant, { AGENT_RUNNER_AUTH_DESKTOP_PLATFORM: "darwin" });
    const dry = await runCli(["setup", "claude-desktop", "--dry-run"], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('+  "inferenceProvider": "gateway"');
    expect(existsSync(library(env))).toBe(false);

    // an existing configuration of the user's stays, and a backup of _meta.json is written
    mkdirSync(library(env), { recursive: true });
    const theirs = "11111111-2222-4333-8444-555555555555";
    writeFileSync(join(library(env), "_meta.json"), JSON.stringify({ appliedId: theirs, entries: [{ id: theirs, name: "Their gateway" }] }));
    writeFileSync(join(library(env), `${theirs}.json`), JSON.stringify({ inferenceProvider: "gateway", inferenceGatewayBaseUrl: "https://other.example/anthropic" }));
    const out = await runCli(["setup", "claude-desktop"], env);
    expect(out.code).toBe(0);
    const meta = JSON.parse(readFileSync(join(library(env), "_meta.json"), "utf8"));
    expect(meta.entries).toHaveLength(2);
    const ours = meta.entries.find((e: { name: string }) => e.name === "agent-runner-auth");
    expect(meta.appliedId).toBe(ours.id);
    expect(existsSync(join(library(env), "_meta.json.agent-runner-auth.bak"))).toBe(true);
    const entry = JSON.parse(readFileSync(join(library(env), `${ours.id}.json`), "utf8"));
    expect(entry).toMatchObject({ inferenceProvider: "gateway", inferenceGatewayBaseUrl: `${tenant.tenant}/anthropic`, inferenceGatewayAuthScheme: "bearer", inferenceCredentialHelperTtlSec: 300 });
    expect(entry.inferenceCredentialHelper).toEndWith("/desktop-helper/agent-runner-auth-desktop-helper");
    expect(realpathSync(entry.inferenceCredentialHelper)).toBe(realpathSync(BINARY));
    expect((await runCli(["setup", "claude-desktop"], env)).stderr).toContain("already up to date");

    // Desktop's way: no arguments, CLAUDE_HELPER_CONTEXT, a timeout; stdout is one JSON object
    const helper = await runCli([], { ...env, CLAUDE_HELPER_CONTEXT: "interactive" }, { binary: entry.inferenceCredentialHelper, timeoutMs: 20_000 });
    expect(helper.code).toBe(0);
    const answer = JSON.parse(helper.stdout);
    expect(answer.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const call = await fetch(`${entry.inferenceGatewayBaseUrl}/v1/models`, { headers: { authorization: `Bearer ${answer.token}`, "anthropic-version": "2023-06-01" } });
    expect(call.status).toBe(200);

    const doctor = await runCli(["doctor", "--json"], env);
    const desktop = JSON.parse(doctor.stdout).checks.find((c: { name: string }) => c.name === "claude desktop");
    expect(desktop).toMatchObject({ verdict: "pass" });

    const removed = await runCli(["setup", "claude-desktop", "--remove"], env);
    expect(removed.code).toBe(0);
    expect(JSON.parse(readFileSync(join(library(env), "_meta.json"), "utf8"))).toEqual({ appliedId: theirs, entries: [{ id: theirs, name: "Their gateway" }] });
    expect(existsSync(entry.inferenceCredentialHelper)).toBe(false);
    const after = JSON.parse((await runCli(["doctor", "--json"], env)).stdout).checks.find((c: { name: string }) => c.name === "claude desktop");
    expect(after).toMatchObject({ verdict: "warn", detail: expect.stringContaining('no "agent-runner-auth" configuration') });
  }, 60_000);

  test("--mdm macos prints a .mobileconfig that parses as a plist, with no secret; --mdm windows a .reg", async () => {
    const env = await signedIn(tenant);
    const out = await runCli(["setup", "claude-desktop", "--mdm", "macos"], env);
    expect(out.code).toBe(0);
    const plist = parsePlist(out.stdout) as { PayloadContent: Record<string, unknown>[] };
    expect(plist.PayloadContent[0]).toMatchObject({ PayloadType: "com.anthropic.claudefordesktop", inferenceGatewayBaseUrl: `${tenant.tenant}/anthropic`, inferenceCredentialHelper: "/usr/local/bin/agent-runner-auth-desktop-helper" });
    const token = (await runCli(["token"], env)).stdout.trim();
    expect(token.length).toBeGreaterThan(20);
    expect(out.stdout).not.toContain(token.split(".")[2]!);
    const reg = await runCli(["setup", "claude-desktop", "--mdm", "windows"], env);
    expect(reg.stdout).toStartWith("Windows Registry Editor Version 5.00");
    expect(reg.stdout).toContain("[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Claude]");
  }, 30_000);
});

describe("setup claude --mcp-server", () => {
  test("adds the headersHelper to an http server of the project's .mcp.json; the helper prints the Authorization header the proxy accepts; --remove takes it out", async () => {
    const env = await signedIn(tenant);
    const project = mkdtempSync(join(tmpdir(), "ara-mcp-"));
    const original = '{\n  "mcpServers": {\n    "docs": { "type": "http", "url": "https://mcp.example.com/mcp" },\n    "local": { "command": "node", "args": ["x.js"] }\n  }\n}\n';
    writeFileSync(join(project, ".mcp.json"), original);
    const out = spawnSync(BINARY, ["setup", "claude", "--mcp-server", "docs"], { env, cwd: project, encoding: "utf8" });
    expect(out.status).toBe(0);
    const config = JSON.parse(readFileSync(join(project, ".mcp.json"), "utf8"));
    expect(config.mcpServers.docs.headersHelper).toBe(`${BINARY} token --format headers`);
    expect(config.mcpServers.local).toEqual({ command: "node", args: ["x.js"] });
    expect(readFileSync(join(project, ".mcp.json.agent-runner-auth.bak"), "utf8")).toBe(original);
    // Claude Code runs the helper through a shell
    const helper = spawnSync("sh", ["-c", config.mcpServers.docs.headersHelper], { env, encoding: "utf8" });
    expect(helper.status).toBe(0);
    const headers = JSON.parse(helper.stdout);
    expect(Object.keys(headers)).toEqual(["Authorization"]);
    const call = await fetch(`${tenant.tenant}/anthropic/v1/models`, { headers: { authorization: headers.Authorization, "anthropic-version": "2023-06-01" } });
    expect(call.status).toBe(200);
    const stdio = spawnSync(BINARY, ["setup", "claude", "--mcp-server", "local"], { env, cwd: project, encoding: "utf8" });
    expect(stdio.status).toBe(2);
    expect(stdio.stderr).toContain("only http and sse servers send headers");
    const removed = spawnSync(BINARY, ["setup", "claude", "--mcp-server", "docs", "--remove"], { env, cwd: project, encoding: "utf8" });
    expect(removed.status).toBe(0);
    expect(JSON.parse(readFileSync(join(project, ".mcp.json"), "utf8"))).toEqual(JSON.parse(original));
  }, 30_000);
});
