/**
 * The real Claude Code client through an upstream pool holding only an Amazon Bedrock upstream
 * (the stand-in, which verifies every SigV4 signature and refuses what Bedrock refuses: a body
 * with `model` or `stream`, a beta flag Bedrock does not know), offline. Until the pool is wired
 * into the gateway (docs/upstreams.md, "Wiring plan"), it sits behind pool-harness.ts, which does
 * what forward.ts will do; tokens, limits and the ledger are not part of this test.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { runOffline } from "../support/offline.ts";
import { BUN, ROOT } from "../support/tenant.ts";

test("claude -p answers through a Bedrock-only pool; Bedrock received what it accepts, signed", async () => {
  const run = await runOffline([BUN, join(ROOT, "test/support/claude-bedrock-scenario.ts")], { PATH: process.env.PATH ?? "" });
  if (run.code !== 0) console.error(run.stderr.slice(-3000));
  expect(run.code).toBe(0);
  const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
  if (result.code !== 0) console.error(result.stderr, JSON.stringify(result.poolAnswers));
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
  }
  expect(result.poolAnswers.every((a: { upstream: string | null; status: number }) => a.upstream === "bedrock-us" && a.status === 200)).toBe(true);
}, 120_000);
