/**
 * The real Claude Code client (npm @anthropic-ai/claude-code, `claude -p`) against the proxy of
 * the local tenant, with the built binary as its apiKeyHelper, in a network namespace that has
 * nothing but loopback: it cannot reach the internet.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { runOffline } from "../support/offline.ts";
import { BUN, ROOT } from "../support/tenant.ts";

test("claude -p answers through the proxy; the upstream saw the tenant's key, not the user's token", async () => {
  const run = await runOffline([BUN, join(ROOT, "test/support/claude-scenario.ts")], { PATH: process.env.PATH ?? "", SCENARIO: "basic" });
  if (run.code !== 0) console.error(run.stderr.slice(-3000));
  expect(run.code).toBe(0);
  const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
  expect(result.login.code).toBe(0);
  expect(result.first.stdout).toContain("Hello from the local agent-runner tenant");
  expect(result.first.code).toBe(0);
  expect(result.upstream.messages).toBeGreaterThan(0);
  expect(result.upstream.keysSeen).toHaveLength(1);
  expect(result.upstream.keysSeen[0]).toStartWith("sk-ant-local-");
  expect(result.upstream.sawUserToken).toBe(false);
  expect(result.upstream.authorizationHeaders).toBe(0);
  expect(result.upstream.userAgent).toContain("claude-cli/");
}, 120_000);

test("lifecycle: Chromium login, setup claude, doctor, silent refresh inside Claude Code, logout", async () => {
  const run = await runOffline([BUN, join(ROOT, "test/support/claude-scenario.ts")], {
    PATH: process.env.PATH ?? "",
    SCENARIO: "lifecycle",
    TENANT_ARGS: "--access-token-ttl 20",
    ACCESS_TTL: "20",
  });
  if (run.code !== 0) console.error(run.stderr.slice(-3000));
  expect(run.code).toBe(0);
  const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
  expect(result.login.stderr).toContain("Logged in as demo");
  expect(result.setup.code).toBe(0);
  expect(result.setup.settings.apiKeyHelper).toMatch(/agent-runner-auth token$/);
  expect(result.setup.settings.env.ANTHROPIC_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/anthropic\/v1$/);
  expect(result.setup.settings.env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS).toBe("15000");
  // doctor passes before logout
  expect(result.doctorBefore.code).toBe(0);
  expect(result.doctorBefore.report.ok).toBe(true);
  expect(result.doctorBefore.report.checks.find((c: { name: string }) => c.name === "proxy").verdict).toBe("pass");
  // claude -p answers; after the access token expired it still answers, with one silent refresh
  expect(result.first.stdout).toContain("Hello from the local agent-runner tenant");
  expect(result.second.stdout).toContain("Hello from the local agent-runner tenant");
  expect(result.second.code).toBe(0);
  expect(result.refreshGrantsForSecond).toBe(1);
  // after logout, Claude Code fails and shows the helper's message
  expect(result.logout.code).toBe(0);
  expect(result.third.code).not.toBe(0);
  expect(result.third.stdout + result.third.stderr).toMatch(/agent-runner-auth login|not logged in/);
  // and doctor fails, naming the fix
  expect(result.doctorAfter.code).toBe(1);
  expect(result.doctorAfter.stderr).toContain("✗ session");
  expect(result.doctorAfter.stderr).toContain("fix: agent-runner-auth login");
}, 180_000);
