/**
 * Inside an offline network namespace: the local tenant, a login with the built binary, Claude
 * Code's settings pointing at the proxy with the binary as apiKeyHelper, and `claude -p`.
 * Prints one JSON object describing what happened, for claude-code.test.ts to check.
 * SCENARIO selects the steps: "basic" (issue: proxy) or "lifecycle" (refresh, logout, doctor).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTenant, ROOT, BUN } from "./tenant.ts";
import { BINARY, isolatedHome, scriptedBrowser } from "./cli.ts";

const CLAUDE = join(ROOT, "node_modules", ".bin", "claude");
const tenant = await startTenant((process.env.TENANT_ARGS ?? "").split(" ").filter(Boolean));
const result: Record<string, unknown> = {};
try {
  const home = isolatedHome();
  const user = tenant.users[0]!;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...home,
    AGENT_RUNNER_AUTH_STORE: "file",
    ...scriptedBrowser(user.username, user.password),
    // Claude Code must not try to reach anything but the proxy (there is no route anyway).
    DISABLE_AUTOUPDATER: "1",
    DISABLE_TELEMETRY: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  };
  const cli = (args: string[]) => spawnSync(BINARY, args, { env, encoding: "utf8" });
  const login = cli(["login", tenant.tenant]);
  result.login = { code: login.status, stderr: login.stderr };

  mkdirSync(join(home.HOME!, ".claude"), { recursive: true });
  writeFileSync(
    join(home.HOME!, ".claude", "settings.json"),
    JSON.stringify({ env: { ANTHROPIC_BASE_URL: `${tenant.tenant}/anthropic/v1`, CLAUDE_CODE_API_KEY_HELPER_TTL_MS: "3300000" }, apiKeyHelper: `${BINARY} token` }),
  );
  const project = join(home.HOME!, "project");
  mkdirSync(project);
  const claude = (prompt: string) => {
    const started = performance.now();
    const run = spawnSync(CLAUDE, ["-p", prompt], { env, cwd: project, encoding: "utf8", timeout: 90_000, input: "" });
    return { code: run.status, stdout: run.stdout, stderr: run.stderr.slice(-2000), ms: Math.round(performance.now() - started) };
  };
  result.first = claude("Say hello");
  const upstream = (await (await fetch(`${tenant.upstream}/_stub/requests`)).json()) as { path: string; headers: Record<string, string> }[];
  const token = cli(["token"]).stdout.trim();
  const messages = upstream.filter((r) => r.path === "/v1/messages");
  result.upstream = {
    messages: messages.length,
    keysSeen: [...new Set(messages.map((r) => r.headers["x-api-key"]))],
    sawUserToken: JSON.stringify(upstream).includes(token),
    authorizationHeaders: messages.filter((r) => r.headers.authorization !== undefined).length,
    userAgent: messages[0]?.headers["user-agent"],
  };
  result.stats = await tenant.stats();
} finally {
  await tenant.stop();
}
console.log(JSON.stringify(result));
void BUN;
