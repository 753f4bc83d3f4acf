/**
 * `npm run demo`: the whole flow on this machine, nothing from outside. Starts the local tenant,
 * builds the binary, signs in through the tenant's login page (a scripted browser), shows
 * `status`, gets a token twice (the second from the cache), streams an answer through the proxy
 * with that token, and stops everything. It uses a temporary profile directory and the file
 * store: your real keychain and config are never touched.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const root = join(import.meta.dir, "..");
const binary = join(root, "dist", "agent-runner-auth");
const bun = process.execPath;
const bold = process.stdout.isTTY && !process.env.NO_COLOR;
const step = (text: string) => console.log(bold ? `\n\x1b[1m== ${text}\x1b[0m` : `\n== ${text}`);

if (!existsSync(binary) || process.env.DEMO_REBUILD !== "0") {
  step("Building the single-file binary (npm run build)");
  const built = spawnSync(bun, [join(root, "scripts", "build.ts")], { stdio: "inherit" });
  if (built.status !== 0) process.exit(1);
}

step("Starting the local tenant (identity provider, proxy, stub Anthropic upstream)");
const tenantProcess = spawn(bun, [join(root, "src", "tenant", "main.ts"), "--port", "0"], { stdio: ["ignore", "pipe", "ignore"] });
const info = JSON.parse(
  await new Promise<string>((resolve, reject) => {
    createInterface({ input: tenantProcess.stdout! }).once("line", resolve);
    tenantProcess.once("exit", () => reject(new Error("the tenant did not start")));
  }),
) as { tenant: string; issuer: string; users: { username: string; password: string }[]; upstream?: string };
console.log(`tenant ${info.tenant}\nissuer ${info.issuer}`);

const home = mkdtempSync(join(tmpdir(), "agent-runner-demo-"));
const user = info.users[0]!;
const env: Record<string, string> = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  XDG_CONFIG_HOME: join(home, "config"),
  XDG_DATA_HOME: join(home, "data"),
  XDG_STATE_HOME: join(home, "state"),
  AGENT_RUNNER_AUTH_STORE: "file",
  BROWSER: `${bun} ${join(root, "scripts", "scripted-browser.ts")}`,
  AGENT_RUNNER_DEMO_USERNAME: user.username,
  AGENT_RUNNER_DEMO_PASSWORD: user.password,
};

function cli(args: string[]): { code: number | null; stdout: string; ms: number } {
  console.log(`$ agent-runner-auth ${args.join(" ")}`);
  const started = performance.now();
  const result = spawnSync(binary, args, { env, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, ms: performance.now() - started };
}

let failed = false;
try {
  step(`Signing in as "${user.username}" through the tenant's login page`);
  if (cli(["login", info.tenant]).code !== 0) throw new Error("login failed");

  step("Status");
  cli(["status"]);

  step("A token for Claude Code's apiKeyHelper, twice");
  const first = cli(["token"]);
  const second = cli(["token"]);
  if (first.code !== 0 || second.code !== 0) throw new Error("token failed");
  const token = first.stdout.trim();
  console.log(`first:  ${token.slice(0, 24)}...${token.slice(-8)} (${first.ms.toFixed(0)} ms)`);
  console.log(`second: ${second.stdout.trim() === token ? "the same token, from the cache" : "a different token"} (${second.ms.toFixed(0)} ms)`);

  if (info.upstream) {
    step("A streamed answer through the tenant proxy, with that token");
    const response = await fetch(`${info.tenant}/anthropic/v1/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "x-api-key": token, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-demo", max_tokens: 64, stream: true, messages: [{ role: "user", content: "Say hello." }] }),
    });
    console.log(`HTTP ${response.status} ${response.headers.get("content-type")}`);
    let text = "";
    const decoder = new TextDecoder();
    let buffer = "";
    const events: string[] = [];
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk, { stream: true });
      let index: number;
      while ((index = buffer.indexOf("\n\n")) !== -1) {
        const event = buffer.slice(0, index);
        buffer = buffer.slice(index + 2);
        const name = /^event: (.*)$/m.exec(event)?.[1];
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (name) events.push(name);
        if (name === "content_block_delta" && data) text += (JSON.parse(data) as { delta: { text?: string } }).delta.text ?? "";
      }
    }
    const shown = events.filter((e, i) => e !== "content_block_delta" || events[i - 1] !== "content_block_delta");
    console.log(`events: ${shown.join(", ").replace("content_block_delta", `content_block_delta x${events.filter((e) => e === "content_block_delta").length}`)}`);
    console.log(`answer: ${text}`);
    if (response.status !== 200 || text === "") throw new Error("the streamed answer failed");
  }

  step("Logging out (revokes the session at the identity provider)");
  cli(["logout"]);
  step("Done: the demo worked");
} catch (e) {
  failed = true;
  console.error(`\ndemo failed: ${(e as Error).message}`);
} finally {
  tenantProcess.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
