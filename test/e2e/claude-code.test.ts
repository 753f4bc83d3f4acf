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
