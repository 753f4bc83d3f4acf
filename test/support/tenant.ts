/** Starts the real local tenant (`src/tenant/main.ts`) as a child process for a test. */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import type { IdpStats, TokenFault, UserAction } from "../../src/tenant/idp.ts";
import { portBlock } from "./ports.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const BUN = process.execPath;

export interface TenantProcess {
  tenant: string;
  issuer: string;
  client_id: string;
  upstream?: string;
  /** The stub's key (absent with `--upstream`: a real upstream's key is never printed). */
  upstream_key?: string;
  admin: string;
  users: { username: string; password: string; groups: string[] }[];
  /** Every proxy replica's tenant URL (`--replicas N`; `tenant` is the first). */
  proxies: string[];
  /** The proxy's Prometheus metrics URL (the first replica's). */
  metrics: string;
  /** The proxies' state store URL (password hidden). */
  state: string;
  admin_group?: string;
  /** What the tenant wrote on stderr so far. */
  stderr(): string;
  /** The admin console on the first proxy. */
  console: string;
  redirectPorts: number[];
  stats(): Promise<IdpStats>;
  faults(faults: TokenFault[]): Promise<void>;
  rotateKey(): Promise<void>;
  /** The IdP's AdminDisableUser / AdminEnableUser / AdminUserGlobalSignOut; the HTTP status (204, or 404 for an unknown user). */
  userAction(username: string, action: UserAction): Promise<number>;
  stop(): Promise<void>;
  child: ChildProcess;
}

/** Random registered ports per tenant, so test files and a developer's own login never collide. */
export function randomRedirectPorts(): number[] {
  return portBlock(3);
}

export async function startTenant(args: string[] = [], extraEnv: Record<string, string> = {}): Promise<TenantProcess> {
  const redirectPorts = randomRedirectPorts();
  const child = spawn(BUN, [join(ROOT, "src/tenant/main.ts"), "--port", "0", ...redirectPorts.flatMap((p) => ["--redirect-port", String(p)]), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_NO_WARNINGS: "1", ...extraEnv },
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", resolve);
    // "close", not "exit": the pipes are drained by then, so the reason on stderr is all there
    child.once("close", (code) => reject(new Error(`tenant exited with ${code}: ${stderr}`)));
    timer = setTimeout(() => reject(new Error(`tenant did not start: ${stderr}`)), 15000);
  }).finally(() => clearTimeout(timer));
  const info = JSON.parse(line);
  const admin = info.admin as string;
  // The harness talks to the admin plane of a TLS tenant without checking its test certificate.
  const adminFetch = (url: string, init: RequestInit = {}) => fetch(url, { ...init, tls: { rejectUnauthorized: false } } as RequestInit);
  return {
    ...info,
    redirectPorts,
    child,
    stderr: () => stderr,
    stats: async () => (await adminFetch(`${admin}/stats`)).json() as Promise<IdpStats>,
    faults: async (faults) => {
      await adminFetch(`${admin}/faults`, { method: "POST", body: JSON.stringify(faults) });
    },
    rotateKey: async () => {
      await adminFetch(`${admin}/rotate-key`, { method: "POST" });
    },
    userAction: async (username, action) => {
      const response = await adminFetch(`${admin}/users/${encodeURIComponent(username)}/${action}`, { method: "POST" });
      await response.body?.cancel();
      return response.status;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
