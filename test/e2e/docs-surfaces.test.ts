/**
 * The built binary's bash completion, run by a real bash, and the man page rendered by
 * scripts/manpage.ts and formatted by man(1): both carry issue 11's commands and options.
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY } from "../support/cli.ts";
import { BUN, ROOT } from "../support/tenant.ts";

test("bash completion from the binary: setup <TAB> is claude claude-desktop; new options and values complete", () => {
  const script = `source <(${JSON.stringify(BINARY)} completion bash)
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _agent_runner_auth; echo "\${COMPREPLY[*]}"; }
t agent-runner-auth setup ""
t agent-runner-auth ""
t agent-runner-auth token --format ""
t agent-runner-auth login --i
`;
  const out = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { PATH: process.env.PATH } });
  expect(out.stderr).toBe("");
  const [setup, top, format, login] = out.stdout.split("\n");
  expect(setup).toBe("claude claude-desktop");
  expect(top!.split(" ")).toEqual(expect.arrayContaining(["exec", "env", "usage", "admin", "setup"]));
  expect(format).toBe("bare desktop headers");
  expect(login).toBe("--issuer --identity-provider --idp-identifier");
});

test("man -l on the rendered page shows the new commands, options, variables and files", () => {
  const page = spawnSync(BUN, [join(ROOT, "scripts", "manpage.ts")], { encoding: "utf8" });
  expect(page.status).toBe(0);
  const file = join(mkdtempSync(join(tmpdir(), "ara-man-")), "agent-runner-auth.1");
  writeFileSync(file, page.stdout);
  const man = spawnSync("man", ["-l", file], { encoding: "utf8", env: { PATH: process.env.PATH, MANWIDTH: "200", MANPAGER: "cat", PAGER: "cat", LANG: "C.UTF-8" } });
  expect(man.status).toBe(0);
  const text = man.stdout.replace(/.\x08/g, ""); // no overstrike
  for (const wanted of [
    "setup claude|claude-desktop",
    "exec [options] -- CMD [ARGS...]",
    "env [options]",
    "--identity-provider NAME",
    "--idp-identifier ID",
    "--login-hint USER",
    "--switch-user",
    "--format bare|desktop|headers",
    "--mdm macos|windows",
    "--mcp-server NAME",
    "--status-line",
    "--base-url URL",
    "--deep",
    "--ca-file PATH",
    "--shell sh|bash|zsh|fish|powershell",
    "admin revoke",
    "AGENT_RUNNER_TENANT",
    "CLAUDE_HELPER_CONTEXT",
    "/etc/agent-runner-auth/config.json",
  ]) expect(text).toContain(wanted);
});

test("the packaged system configuration example, installed as is, configures nothing: bare login stops with today's line", async () => {
  const { baseEnv, isolatedHome, runCli } = await import("../support/cli.ts");
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", AGENT_RUNNER_AUTH_SYSTEM_CONFIG: join(ROOT, "deploy", "system-config.example.json") });
  const out = await runCli(["login"], env);
  expect(out.stderr).toContain("no tenant configured yet");
  expect(out.code).toBe(2);
  // the same file filled in is read from that path and used (a tenant nobody serves: exit 3 after the sentence)
  const filled = join(mkdtempSync(join(tmpdir(), "ara-syscfg-")), "config.json");
  writeFileSync(filled, readFileSync(join(ROOT, "deploy", "system-config.example.json"), "utf8").replace(/^(\s*)\/\/ (")/gm, "$1$2").replace("https://acme.proxy.example.com", "https://acme.proxy.invalid"));
  const used = await runCli(["login", "--timeout", "5s"], { ...env, AGENT_RUNNER_AUTH_SYSTEM_CONFIG: filled });
  expect(used.stderr).toContain(`Using the tenant https://acme.proxy.invalid from ${filled} (installed by your administrator).`);
  expect(used.code).toBe(3);
});
