/**
 * The gateway suites' one set-up: a forge issuer (tokens the test signs, every claim bendable),
 * the local stub upstream (which checks UPSTREAM_KEY), the key files a proxy process reads, a
 * tenant configuration for an in-process proxy (`tenantConfig`), and real proxy processes
 * (`bun src/proxy/main.ts`: single-tenant flags, a `--state` URL they share, an admin group and an
 * admin key file), each started, killed (SIGTERM or SIGKILL) and restarted on its own port.
 * `useGateway()` registers the set-up with the suite and tears it all down after it.
 */
import { afterAll, beforeAll } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { TenantConfig } from "../../src/proxy/config.ts";
import { poolConfigOfTenant } from "../../src/proxy/upstreams/config.ts";
import { startStubUpstream } from "../../src/tenant/stub-upstream.ts";
import { type Forge, startForge } from "./forge.ts";
import { BUN, ROOT } from "./tenant.ts";

export const UPSTREAM_KEY = "sk-ant-test-gateway-upstream";
export const ADMIN_KEY = "adminkey-0123456789abcdef0123456789abcdef";
export const ADMIN_GROUP = "gateway-admins";

export interface ProxyProcess {
  url: string;
  child: ChildProcess;
  stderr(): string;
  /** The request log lines (JSON, stdout), the last 2,000. */
  logLines(): Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface GatewayFiles {
  dir: string;
  adminKeyFile: string;
  upstreamKeyFile: string;
}

/** `upstreamKey`: what the gateways send upstream (default the stub's UPSTREAM_KEY; another one: the stub refuses it). */
export function gatewayDir(upstreamKey = UPSTREAM_KEY): GatewayFiles {
  const dir = mkdtempSync(join(tmpdir(), "ara-gateway-"));
  const adminKeyFile = join(dir, "admin-key");
  const upstreamKeyFile = join(dir, "upstream-key");
  writeFileSync(adminKeyFile, ADMIN_KEY + "\n", { mode: 0o600 });
  writeFileSync(upstreamKeyFile, upstreamKey, { mode: 0o600 });
  return { dir, adminKeyFile, upstreamKeyFile };
}

export async function startProxyProcess(o: {
  issuer: string; upstream: string; state: string; failure?: "open" | "closed"; adminKeyFile: string; upstreamKeyFile: string; port?: number;
  /** Default agent-runner-cli (the forge's). */
  clientId?: string;
  /** Serve /metrics on 127.0.0.1 at this port (default: none). */
  metricsPort?: number;
  /** `--upstreams FILE`: this pool instead of `upstream` and its key file. */
  upstreams?: string;
  /** More environment (AWS credentials for a Bedrock member). */
  env?: Record<string, string>;
  /** More flags (e.g. --revalidate-seconds 1). */
  args?: string[];
}): Promise<ProxyProcess> {
  const upstreamArgs = o.upstreams !== undefined ? ["--upstreams", o.upstreams] : ["--upstream", o.upstream, "--upstream-key-file", o.upstreamKeyFile];
  const args = [
    join(ROOT, "src/proxy/main.ts"), "--issuer", o.issuer, "--client-id", o.clientId ?? "agent-runner-cli", ...upstreamArgs,
    "--host", "127.0.0.1", "--port", String(o.port ?? 0), "--metrics-port", o.metricsPort !== undefined ? String(o.metricsPort) : "off", "--state", o.state, "--state-failure", o.failure ?? "closed",
    "--admin-group", ADMIN_GROUP, "--admin-key-file", o.adminKeyFile, "--shutdown-grace", "2", ...(o.args ?? []),
  ];
  const child = spawn(BUN, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "1", ...o.env } });
  // always read stdout (a full pipe would block the proxy); keep the last lines for tests
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      if (lines.length > 2000) lines.shift();
    } catch {
      // not a log line
    }
  });
  let stderr = "";
  const rl = createInterface({ input: child.stderr! });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    rl.on("line", (line) => {
      stderr += line + "\n";
      const m = /listening on (http:\/\/[^"\s]+)/.exec(line);
      if (m?.[1]) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`proxy exited with ${code}: ${stderr}`)));
    timer = setTimeout(() => reject(new Error(`proxy did not start: ${stderr}`)), 15_000);
  }).finally(() => clearTimeout(timer));
  // ready once the JWKS is loaded
  for (let i = 0; i < 100 && (await fetch(`${url}/readyz`)).status !== 200; i++) await Bun.sleep(50);
  return {
    url,
    child,
    stderr: () => stderr,
    logLines: () => lines,
    stop: (signal = "SIGTERM") =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
      }),
  };
}

/** A tenant for an in-process proxy (http/server.ts startProxy) on this issuer and upstream. */
export function tenantConfig(o: { issuer: string; jwksUri: string; upstream: string; upstreamApiKey?: string }, slug = "acme", extra: Partial<TenantConfig> = {}): TenantConfig {
  return {
    slug,
    issuer: o.issuer,
    jwksUri: o.jwksUri,
    clientIds: ["agent-runner-cli"],
    requiredGroups: [],
    pool: poolConfigOfTenant({ upstream: o.upstream, upstreamApiKey: o.upstreamApiKey ?? UPSTREAM_KEY }, slug),
    cli: { client_id: "agent-runner-cli", redirect_uris: ["http://localhost:53682/callback"], scopes: ["openid"] },
    ...extra,
  };
}

export type StubUpstream = ReturnType<typeof startStubUpstream>;

export interface Gateway {
  forge: Forge;
  /** The local stub upstream, checking UPSTREAM_KEY. */
  stub: StubUpstream;
  /** The admin key file and an upstream key file with UPSTREAM_KEY. */
  files: GatewayFiles;
  /** A tenant on the forge and the stub, for an in-process proxy. */
  tenant(slug?: string, extra?: Partial<TenantConfig>): TenantConfig;
  /** A proxy process on the forge and the stub (stopped after the suite); `upstreamKey`: another key in its own files (the stub refuses it). */
  startProxy(o: { state: string; failure?: "open" | "closed"; upstreamKey?: string; metricsPort?: number; port?: number; upstreams?: string; env?: Record<string, string>; args?: string[] }): Promise<ProxyProcess>;
}

/** The forge, the stub and the key files, started before the suite's tests and stopped after them, with every proxy process started through it. */
export function useGateway(): Gateway {
  const started: ProxyProcess[] = [];
  const dirs: string[] = [];
  const gateway = {} as Gateway;
  gateway.tenant = (slug, extra) => tenantConfig({ issuer: gateway.forge.issuer, jwksUri: gateway.forge.jwksUri, upstream: gateway.stub.url }, slug, extra);
  gateway.startProxy = async ({ upstreamKey, ...o }) => {
    let files = gateway.files;
    if (upstreamKey !== undefined) dirs.push((files = gatewayDir(upstreamKey)).dir);
    const proxy = await startProxyProcess({ issuer: gateway.forge.issuer, upstream: gateway.stub.url, adminKeyFile: files.adminKeyFile, upstreamKeyFile: files.upstreamKeyFile, ...o });
    started.push(proxy);
    return proxy;
  };
  beforeAll(async () => {
    gateway.forge = await startForge();
    gateway.stub = startStubUpstream({ apiKey: UPSTREAM_KEY });
    gateway.files = gatewayDir();
    dirs.push(gateway.files.dir);
  });
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    gateway.stub?.stop();
    gateway.forge?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return gateway;
}

export interface Ask {
  token: string;
  body?: Record<string, unknown>;
}

export function messageBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 16, messages: [{ role: "user", content: [{ type: "text", text: "hello gateway ".repeat(20), cache_control: { type: "ephemeral" } }] }], ...extra });
}

export function post(url: string, token: string, body: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/anthropic/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" }, body, ...init });
}

export function admin(url: string, path: string, credential: string | null, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (credential !== null) headers.authorization = `Bearer ${credential}`;
  return fetch(`${url}/_gateway/admin/v1/${path}`, { ...init, headers });
}

/** Polls until `check` is true; returns the time it took (ms), or throws after `limitMs`. */
export async function within(limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < limitMs + 1000) {
    if (await check()) return performance.now() - start;
    await Bun.sleep(25);
  }
  throw new Error(`not true within ${limitMs + 1000} ms`);
}
