/**
 * The real Claude Code client through the real gateway process whose tenant's pool holds only
 * an Amazon Bedrock upstream (the stand-in, which verifies every SigV4 signature and refuses what
 * Bedrock refuses: a body with `model` or `stream`, a beta flag Bedrock does not know), offline:
 * the person's token verified, the request forwarded to Bedrock, the usage in the ledger under
 * the upstream that served.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { runOffline } from "../support/offline.ts";
import { BUN, ROOT } from "../support/tenant.ts";

test("claude -p answers through the gateway with a Bedrock-only pool; Bedrock received what it accepts, signed; the ledger says bedrock-us", async () => {
  const run = await runOffline([BUN, join(ROOT, "test/support/claude-bedrock-scenario.ts")], { PATH: process.env.PATH ?? "" });
  if (run.code !== 0) console.error(run.stderr.slice(-3000));
  expect(run.code).toBe(0);
  const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
  if (result.code !== 0) console.error(result.stderr, JSON.stringify(result.gatewayLines));
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("Hello from the local agent-runner tenant");
  expect(result.rejectedSignatures).toBe(0);
  const invokes = result.bedrock.filter((b: { operation: string }) => b.operation !== "count-tokens");
  expect(invokes.length).toBeGreaterThan(0);
  for (const call of invokes) {
    expect(call.modelId).toBe("us.anthropic.claude-sonnet-4-6");
    expect(call.bodyKeys).not.toContain("model");
    expect(call.bodyKeys).not.toContain("stream");
    expect(call.bodyKeys).toContain("anthropic_version");
    expect(call.betas).not.toContain("claude-code-20250219");
    // signed with the gateway's AWS credentials; the person's token never reaches Bedrock
    expect(call.authorization).toContain("Credential=ASIACLAUDECODE/");
  }
  const messages = result.gatewayLines.filter((l: { route: string }) => l.route === "messages");
  expect(messages.length).toBeGreaterThan(0);
  expect(messages.every((l: { upstream: string; status: number; attempts: number }) => l.upstream === "bedrock-us" && l.status === 200 && l.attempts === 1)).toBe(true);
  expect(result.usage).toMatchObject([{ upstream: "bedrock-us", requests: messages.length }]);
}, 120_000);
