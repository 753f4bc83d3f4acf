/**
 * Inside an offline network namespace: the Bedrock Runtime stand-in (SigV4 verified), a pool
 * holding only that Bedrock upstream behind HTTP as the gateway will put it (pool-harness.ts),
 * and the real Claude Code (`claude -p`) pointed at it. Prints one JSON object for
 * claude-code-bedrock.test.ts: Claude Code's output, and what reached "Bedrock".
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPool } from "../../src/proxy/upstreams/build.ts";
import { parsePoolConfig } from "../../src/proxy/upstreams/config.ts";
import type { PoolResult } from "../../src/proxy/upstreams/pool.ts";
import { startBedrockStandin } from "./bedrock-standin.ts";
import { servePool } from "./pool-harness.ts";
import { ROOT } from "./tenant.ts";

const aws = { accessKeyId: "ASIACLAUDECODE", secretAccessKey: "claude-code-secret", sessionToken: "claude-code-token" };
const standin = startBedrockStandin({ credentials: [aws] });
const pool = await buildPool(parsePoolConfig([{ name: "bedrock-us", type: "bedrock", region: "us-east-1", endpoint: standin.url }], undefined, "claude"), {
  tenant: "claude",
  log: () => {},
  now: Date.now,
  random: Math.random,
  newRequestId: () => `req_${crypto.randomUUID()}`,
  credentials: async () => async () => aws,
});
const results: PoolResult[] = [];
const gateway = servePool(pool, (r) => results.push(r));
const home = mkdtempSync(join(tmpdir(), "ara-claude-bedrock-"));
const project = join(home, "project");
mkdirSync(project);
const env = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  ANTHROPIC_BASE_URL: gateway.url,
  ANTHROPIC_API_KEY: "sk-ant-placeholder-the-pool-drops-it",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_TELEMETRY: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
};
// asynchronously: the pool and the stand-in answer from this very process
const child = Bun.spawn([join(ROOT, "node_modules", ".bin", "claude"), "-p", "Say hello", "--model", "claude-sonnet-4-6"], { env, cwd: project, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 90_000 });
const [stdout, stderr, status] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
const run = { status, stdout, stderr };
const invocations = standin.invocations();
console.log(
  JSON.stringify({
    code: run.status,
    stdout: run.stdout,
    stderr: run.stderr.slice(-2000),
    poolAnswers: results.map((r) => ({ upstream: r.upstream, status: r.response.status, attempts: r.attempts })),
    bedrock: invocations.map((i) => ({ operation: i.operation, modelId: i.modelId, betas: (JSON.parse(i.body) as { anthropic_beta?: string[] }).anthropic_beta ?? [], bodyKeys: Object.keys(JSON.parse(i.body)) })),
    rejectedSignatures: standin.stats.rejectedSignatures,
  }),
);
gateway.stop();
standin.stop();
pool.close();
process.exit(0);
