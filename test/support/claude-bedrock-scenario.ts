/**
 * Inside an offline network namespace: the Bedrock Runtime stand-in (SigV4 verified), the real
 * gateway process (`bun src/proxy/main.ts --upstreams FILE`) with a pool holding only that
 * Bedrock upstream and AWS credentials from the environment (the standard chain), a forge issuer
 * for the person's token, and the real Claude Code (`claude -p`) pointed at the gateway. Prints
 * one JSON object for claude-code-bedrock.test.ts: Claude Code's output, the gateway's log lines,
 * the ledger by upstream, and what reached "Bedrock".
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBedrockStandin } from "./bedrock-standin.ts";
import { startForge } from "./forge.ts";
import { ADMIN_KEY, admin, gatewayDir, startProxyProcess } from "./gateway.ts";
import { ROOT } from "./tenant.ts";

const aws = { accessKeyId: "ASIACLAUDECODE", secretAccessKey: "claude-code-secret", sessionToken: "claude-code-token" };
const standin = startBedrockStandin({ credentials: [aws] });
const forge = await startForge();
const files = gatewayDir();
const upstreams = join(files.dir, "upstreams.json");
writeFileSync(upstreams, JSON.stringify({ upstreams: [{ name: "bedrock-us", type: "bedrock", region: "us-east-1", endpoint: standin.url }] }));
const proxy = await startProxyProcess({
  issuer: forge.issuer, upstream: "", upstreams, state: "sqlite::memory:", adminKeyFile: files.adminKeyFile, upstreamKeyFile: files.upstreamKeyFile,
  env: { AWS_ACCESS_KEY_ID: aws.accessKeyId, AWS_SECRET_ACCESS_KEY: aws.secretAccessKey, AWS_SESSION_TOKEN: aws.sessionToken, AWS_EC2_METADATA_DISABLED: "true", AWS_SHARED_CREDENTIALS_FILE: join(files.dir, "none"), AWS_CONFIG_FILE: join(files.dir, "none"), AGENT_RUNNER_PROXY_WORKERS: "1" },
});
const token = await forge.sign({ sub: "sub-claude", username: "claude-dev" });
const home = mkdtempSync(join(tmpdir(), "ara-claude-bedrock-"));
const project = join(home, "project");
mkdirSync(project);
const env = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  ANTHROPIC_BASE_URL: `${proxy.url}/anthropic`,
  // the person's access token, as the apiKeyHelper would give it (claude-code.test.ts runs the helper itself)
  ANTHROPIC_AUTH_TOKEN: token,
  DISABLE_AUTOUPDATER: "1",
  DISABLE_TELEMETRY: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
};
const child = Bun.spawn([join(ROOT, "node_modules", ".bin", "claude"), "-p", "Say hello", "--model", "claude-sonnet-4-6"], { env, cwd: project, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 90_000 });
const [stdout, stderr, status] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
// the ledger is written in batches
await Bun.sleep(300);
const usage = await (await admin(proxy.url, "usage?by=upstream", ADMIN_KEY)).json();
const invocations = standin.invocations();
console.log(
  JSON.stringify({
    code: status,
    stdout,
    stderr: stderr.slice(-2000),
    gatewayLines: proxy.logLines().filter((l) => l.route === "messages" || l.route === "count_tokens").map((l) => ({ route: l.route, status: l.status, upstream: l.upstream, attempts: l.attempts })),
    usage,
    bedrock: invocations.map((i) => ({ operation: i.operation, modelId: i.modelId, betas: (JSON.parse(i.body) as { anthropic_beta?: string[] }).anthropic_beta ?? [], bodyKeys: Object.keys(JSON.parse(i.body)), authorization: i.headers.authorization ?? "" })),
    rejectedSignatures: standin.stats.rejectedSignatures,
  }),
);
await proxy.stop();
standin.stop();
forge.stop();
rmSync(home, { recursive: true, force: true });
rmSync(files.dir, { recursive: true, force: true });
process.exit(0);
