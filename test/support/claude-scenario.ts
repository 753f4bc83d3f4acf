/**
 * Inside an offline network namespace: the local tenant, a login with the built binary, Claude
 * Code's settings pointing at the proxy with the binary as apiKeyHelper, and `claude -p`.
 * Prints one JSON object describing what happened, for claude-code.test.ts to check.
 * SCENARIO selects the steps: "basic" (issue: proxy) or "lifecycle" (refresh, logout, doctor).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTenant, ROOT } from "./tenant.ts";
import { BINARY, chromiumBrowser, isolatedHome, scriptedBrowser } from "./cli.ts";

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
  const cli = (args: string[]) => spawnSync(BINARY, args, { env, encoding: "utf8", cwd: home.HOME });
  const project = join(home.HOME!, "project");
  mkdirSync(project);
  const claude = (prompt: string) => {
    const started = performance.now();
    const run = spawnSync(CLAUDE, ["-p", prompt], { env, cwd: project, encoding: "utf8", timeout: 90_000, input: "" });
    return { code: run.status, stdout: run.stdout, stderr: run.stderr.slice(-2000), ms: Math.round(performance.now() - started) };
  };

  if (process.env.SCENARIO === "lifecycle") {
    // A real browser through the login page, then the one-command setup.
    const resultFile = join(home.HOME!, "chromium.json");
    const login = spawnSync(BINARY, ["login", tenant.tenant], { env: { ...env, ...chromiumBrowser(user.username, user.password, resultFile) }, encoding: "utf8" });
    result.login = { code: login.status, stderr: login.stderr };
    const setup = cli(["setup", "claude"]);
    result.setup = { code: setup.status, stderr: setup.stderr, settings: JSON.parse(readFileSync(join(home.HOME!, ".claude", "settings.json"), "utf8")) };
    const doctor = cli(["doctor", "--json"]);
    result.doctorBefore = { code: doctor.status, report: JSON.parse(doctor.stdout) };
    result.first = claude("Say hello");
    const accessTtl = Number(process.env.ACCESS_TTL ?? 20);
    await new Promise((r) => setTimeout(r, (accessTtl + 1) * 1000)); // the access token expires
    const grantsBefore = (await tenant.stats()).grants.refresh_token ?? 0;
    result.second = claude("Say hello again");
    result.refreshGrantsForSecond = ((await tenant.stats()).grants.refresh_token ?? 0) - grantsBefore;
    const logout = cli(["logout"]);
    result.logout = { code: logout.status };
    result.third = claude("And once more");
    const doctorAfter = cli(["doctor"]);
    result.doctorAfter = { code: doctorAfter.status, stderr: doctorAfter.stderr };
  } else {
    const login = cli(["login", tenant.tenant]);
    result.login = { code: login.status, stderr: login.stderr };
    mkdirSync(join(home.HOME!, ".claude"), { recursive: true });
    writeFileSync(
      join(home.HOME!, ".claude", "settings.json"),
      JSON.stringify({ env: { ANTHROPIC_BASE_URL: `${tenant.tenant}/anthropic/v1`, CLAUDE_CODE_API_KEY_HELPER_TTL_MS: "3300000" }, apiKeyHelper: `${BINARY} token` }),
    );
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
  }
  result.stats = await tenant.stats();
} finally {
  await tenant.stop();
}
console.log(JSON.stringify(result));
