/** Runs the built binary (dist/agent-runner-auth) in an isolated home, as a user would. */
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, BUN } from "./tenant.ts";

/** The binary under test: dist/agent-runner-auth, or $ARA_BINARY (a build made with ARA_BUILD_OUTDIR). */
export const BINARY = process.env.ARA_BINARY || join(ROOT, "dist", "agent-runner-auth");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A throwaway HOME with XDG directories; nothing touches the real user's config or keychain. */
export function isolatedHome(): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), "ara-test-"));
  const env = {
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    XDG_STATE_HOME: join(home, ".local/state"),
  };
  for (const dir of Object.values(env)) mkdirSync(dir, { recursive: true });
  return env;
}

/** The environment of a headless caller (like Claude Code's helper call in CI). */
export function baseEnv(extra: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "LANG", "TMPDIR", "BUN_TMPDIR"]) if (process.env[key]) env[key] = process.env[key] as string;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export function runCli(args: string[], env: Record<string, string>, options: { timeoutMs?: number; binary?: string } = {}): Promise<CliResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(options.binary ?? BINARY, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Runs the binary with a controlling terminal (a pty from util-linux `script`), stdin still closed. */
export async function runCliWithTerminal(args: string[], env: Record<string, string>, options: { timeoutMs?: number } = {}): Promise<CliResult> {
  const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const stdoutFile = join(mkdtempSync(join(tmpdir(), "ara-tty-")), "stdout");
  // stdout goes to a file (like Claude Code's socket, not a TTY); the pty is the controlling
  // terminal and carries stderr.
  const result = await runCli(["-qec", `${[BINARY, ...args].map(quote).join(" ")} </dev/null >${quote(stdoutFile)}`, "/dev/null"], env, { ...options, binary: "script" });
  return { ...result, stderr: result.stdout, stdout: readFileSync(stdoutFile, "utf8") };
}

/** BROWSER for the scripted (fetch-based) demo browser. */
export function scriptedBrowser(username: string, password: string): Record<string, string> {
  return {
    BROWSER: `${BUN} ${join(ROOT, "scripts", "scripted-browser.ts")}`,
    AGENT_RUNNER_DEMO_USERNAME: username,
    AGENT_RUNNER_DEMO_PASSWORD: password,
  };
}

/** What a test needs of a tenant to sign in to it: its URL and its first user. */
interface SignInTarget {
  tenant: string;
  users: readonly { username: string; password: string }[];
}

/** The environment of the tenant's first user: a throwaway home, the file store, the scripted browser. */
export function userEnv(target: SignInTarget, extra: Record<string, string> = {}): Record<string, string> {
  const user = target.users[0]!;
  return baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password), ...extra });
}

/** `login` as the tenant's first user through the scripted browser; that user's environment. */
export async function signedIn(target: SignInTarget, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const env = userEnv(target, extra);
  const login = await runCli(["login", target.tenant], env);
  if (login.code !== 0) throw new Error(`login exited ${login.code}: ${login.stderr.trim()}`);
  return env;
}

/**
 * `exec <flags> -- sh` whose shell traps TERM, sent TERM once the shell runs: exec's exit code
 * and what the shell's trap wrote (`got-term\n` when the signal reached it).
 */
export async function execReceivingTerm(flags: string[], env: Record<string, string>): Promise<{ code: number | null; trapped: string }> {
  const mark = join(mkdtempSync(join(tmpdir(), "ara-sig-")), "got-term");
  const script = `trap 'echo got-term > "${mark}"; trap - TERM; kill -TERM $$' TERM; echo ready; while :; do sleep 0.1; done`;
  const child = spawn(BINARY, ["exec", ...flags, "--", "sh", "-c", script], { env, stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve) => child.stdout.on("data", (d) => String(d).includes("ready") && resolve()));
  child.kill("SIGTERM");
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  return { code, trapped: readFileSync(mark, "utf8") };
}

/** BROWSER for the real Chromium, driven by playwright-core through the login page. */
export function chromiumBrowser(username: string, password: string, resultFile: string): Record<string, string> {
  return {
    BROWSER: `node ${join(ROOT, "test", "support", "chromium-login.mjs")}`,
    TEST_LOGIN_USERNAME: username,
    TEST_LOGIN_PASSWORD: password,
    TEST_LOGIN_RESULT: resultFile,
  };
}
