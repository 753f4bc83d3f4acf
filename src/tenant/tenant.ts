/**
 * Starts the local tenant's parts on 127.0.0.1 and describes them: the IdP, the stub upstream
 * (or another upstream given), and the proxy, in this process or as `replicas` processes
 * (replica.ts) sharing one state store.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createIdp, type Idp, type TenantUser } from "./idp.ts";
import { randomBytes } from "node:crypto";
import type { CliClientConfig } from "../shared/tenant-discovery.ts";
import { startStubUpstream } from "./stub-upstream.ts";
import { poolDeps, startProxy } from "../proxy/http/server.ts";
import { TenantPolicies } from "../proxy/policy/tenant-policies.ts";
import { gatewayReloaders, reloadAll } from "../proxy/reload.ts";
import { buildPool } from "../proxy/upstreams/build.ts";
import { poolConfigOfTenant, readUpstreamsFile } from "../proxy/upstreams/config.ts";
import type { Pool } from "../proxy/upstreams/pool.ts";
import type { LogLine } from "../proxy/telemetry/log.ts";
import type { TenantConfig } from "../proxy/config.ts";
import { openState, shownStateUrl } from "../proxy/state/open.ts";
import { MAX_UPSTREAM_CONNECTIONS } from "../shared/fetch-concurrency.ts";
import { REPLICA_KEY_ENV, REPLICA_SPEC_ENV, type ReplicaSpec } from "./replica.ts";
import { CONSOLE_BASE, CONSOLE_CALLBACK } from "../shared/console-api.ts";
import { parseAlerts } from "../proxy/config.ts";

export const DEFAULT_USERS: TenantUser[] = [
  { username: "demo", password: "demo-password-1", email: "demo@example.invalid", groups: ["developers"] },
];
/** Added to the default users with `--admin-group G`: a member of G (the proxy's admin API). */
export function adminUser(group: string): TenantUser {
  return { username: "admin", password: "admin-password-1", email: "admin@example.invalid", groups: ["developers", group] };
}
export const DEFAULT_REDIRECT_PORTS = [53682, 53683, 53684];
export const POOL_ID = "local_AgentRunner";
export const CLIENT_ID = "agent-runner-cli";
/** The admin console's own app client (its tokens are not accepted on /anthropic/). */
export const CONSOLE_CLIENT_ID = "agent-runner-console";

export interface TenantOptions {
  /** The first proxy's port; 0: a free one (`freePort`, handed in by tests to pick a taken one first). */
  port: number;
  freePort?: () => number;
  idpPort: number;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  rotateRefreshTokens: boolean;
  /** Sign-in defaults the discovery document announces (`identity_provider`, `idp_identifier`). */
  signInDefaults?: Pick<CliClientConfig, "identity_provider" | "idp_identifier">;
  users: TenantUser[];
  redirectPorts?: number[];
  slug?: string;
  requiredGroups?: string[];
  /** Where the proxy's log lines go (default: stderr, so stdout keeps only the JSON line). */
  log?: (line: LogLine) => void;
  /** Serve the IdP and the proxy over TLS with this certificate (for https://localhost). */
  tls?: { certFile: string; keyFile: string };
  /** Proxy processes, each on its own port (default 1: the proxy runs in this process). */
  replicas?: number;
  /** The proxy's `--state` URL; default `sqlite::memory:` for one replica, a SQLite file in a temporary directory for several. */
  state?: string;
  /** Another upstream (a stub, the real API) instead of the local stub, with its key. */
  upstream?: { url: string; apiKey: string };
  /** A pool (`--upstreams FILE`, the gateway's format) instead of the stub or `upstream`. */
  upstreamsFile?: string;
  /** The local stub's key (default: random); not with `upstream`. */
  stubKey?: string;
  /** Members of this Cognito group may use the proxy's admin API. */
  adminGroup?: string;
  /** The proxy looks up the e-mail of email-as-username people at userInfo (default true). */
  userInfo?: boolean;
  /** The tenant policy file (docs/policy.md) every proxy enforces, watched; `reload()` (SIGHUP) re-reads it. */
  policy?: string;
  /** `--revalidate-seconds`: each active session re-checked at the IdP's userInfo this often (default 60; 0: off). */
  revalidateSeconds?: number;
  /** `--alerts-webhook URL --alerts-secret-file F`: budget alerts (the secret read by each proxy from its file). */
  alerts?: { webhook: string; secretFile?: string };
}

/** The JSON line the tenant prints when ready. */
export interface TenantInfo {
  tenant: string;
  issuer: string;
  client_id: string;
  users: { username: string; password: string; groups: string[] }[];
  admin: string;
  /** The upstream the proxy forwards to (the stub unless `--upstream`), for calling it directly (benchmarks). */
  upstream: string;
  /**
   * The local stub's key, for a gateway run in front of the stub (`--upstream-key-env`). Only the
   * stub's: it guards nothing but this loopback stub; a real upstream's key (`--upstream`) is never printed.
   */
  upstream_key?: string;
  /** The first proxy's Prometheus metrics: a separate loopback listener, never the tenant URL. */
  metrics: string;
  /** Every proxy replica's tenant URL (`tenant` is the first). */
  proxies: string[];
  /** The state store the replicas share. */
  state: string;
  /** The proxy's admin group, when one was given. */
  admin_group?: string;
  /** The admin console on the first proxy (sign in as a member of the admin group). */
  console: string;
}

export interface RunningTenant {
  info: TenantInfo;
  idp: Idp;
  stop(): Promise<void>;
  /** Every proxy re-reads its upstream keys and its policy file (SIGHUP to each replica; reload.ts). */
  reload(): void;
}

/** A free loopback port, found by binding port 0 (released at once; the proxy binds it next). */
function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startTenant(options: TenantOptions): Promise<RunningTenant> {
  const tls = options.tls ? { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) } : undefined;
  const idpServer: Server = tls ? (createTlsServer(tls) as unknown as Server) : createServer();
  const idpPort = await listen(idpServer, options.idpPort);
  // With TLS the name is localhost (what the certificate names); without, the loopback address.
  const origin = tls ? `https://localhost:${idpPort}` : `http://127.0.0.1:${idpPort}`;
  const redirectUris = (options.redirectPorts ?? DEFAULT_REDIRECT_PORTS).map((p) => `http://localhost:${p}/callback`);

  // A real upstream's key never leaves this process (and its replicas): the proxy adds it upstream.
  // The stub's key is named in the JSON line (upstream_key), for a gateway deployed in front of the stub.
  if (options.upstream && options.stubKey !== undefined) throw new Error("a stub key is for the local stub; with another upstream there is none");
  if (options.upstreamsFile && (options.upstream || options.stubKey !== undefined)) throw new Error("a pool (upstreamsFile) replaces the stub and another upstream");
  const upstreamKey = options.upstream?.apiKey ?? options.stubKey ?? `sk-ant-local-${randomBytes(16).toString("hex")}`;
  const pooled = options.upstreamsFile ? readUpstreamsFile(options.upstreamsFile) : undefined;
  const stub = options.upstream || pooled ? undefined : startStubUpstream({ apiKey: upstreamKey });
  // with a pool: its first member's address (for calling it directly, as benchmarks do)
  const firstMember = pooled?.upstreams[0];
  const upstreamUrl = options.upstream?.url.replace(/\/+$/, "") ?? stub?.url ?? (firstMember?.type === "anthropic" ? firstMember.url : (firstMember as { endpoint: string }).endpoint);
  const replicas = options.replicas ?? 1;
  // replicas read the one key from their environment (REPLICA_KEY_ENV), never from their specification
  const pool = pooled ?? poolConfigOfTenant(replicas > 1 ? { upstream: upstreamUrl, upstreamApiKeyEnv: REPLICA_KEY_ENV } : { upstream: upstreamUrl, upstreamApiKey: upstreamKey }, "tenant");

  const adminGroups = options.adminGroup ? [options.adminGroup] : [];
  const tempDir = (replicas > 1 && !options.state) || options.alerts ? mkdtempSync(join(tmpdir(), "ara-tenant-")) : undefined;
  const state = options.state ?? (replicas > 1 && tempDir ? `sqlite:${join(tempDir, "state.db")}` : "sqlite::memory:");
  const stopIdp = () =>
    new Promise<void>((resolve) => {
      idpServer.close(() => resolve());
      idpServer.closeAllConnections();
    });

  type Front = Awaited<ReturnType<typeof frontFor>>;
  /** The IdP (its console client naming the proxy's port) and the tenant's configuration for the proxy on `proxyPort`. */
  async function frontFor(proxyPort: number) {
    const proxyOrigin = tls ? `https://localhost:${proxyPort}` : `http://127.0.0.1:${proxyPort}`;
    const consoleUrl = `${proxyOrigin}${CONSOLE_BASE}`;
    const consoleClient = { clientId: CONSOLE_CLIENT_ID, redirectUri: `${proxyOrigin}${CONSOLE_CALLBACK}`, logoutUri: `${consoleUrl}?signed_out=1` };
    const idp = await createIdp({
      origin,
      poolId: POOL_ID,
      clientId: CLIENT_ID,
      redirectUris,
      users: options.users,
      accessTokenTtl: options.accessTokenTtl,
      refreshTokenTtl: options.refreshTokenTtl,
      rotateRefreshTokens: options.rotateRefreshTokens,
      consoleClient: { clientId: consoleClient.clientId, redirectUris: [consoleClient.redirectUri], logoutUris: [consoleClient.logoutUri] },
    });
    const client: CliClientConfig = {
      client_id: CLIENT_ID,
      redirect_uris: redirectUris,
      scopes: idp.scopes,
      refresh_token_lifetime_seconds: options.refreshTokenTtl,
      access_token_lifetime_seconds: options.accessTokenTtl,
      logout_uris: idp.logoutUris,
      ...options.signInDefaults,
    };

    const tenantConfig: TenantConfig = {
      slug: options.slug ?? "acme",
      issuer: idp.issuer,
      jwksUri: `${idp.issuer}/.well-known/jwks.json`,
      clientIds: [CLIENT_ID],
      requiredGroups: options.requiredGroups ?? [],
      pool,
      cli: client,
      ...(options.policy ? { policy: { path: resolve(options.policy) } } : {}),
      ...(options.revalidateSeconds !== undefined ? { revalidateSeconds: options.revalidateSeconds } : {}),
      console: consoleClient,
    };
    return { proxyPort, idp, consoleUrl, tenantConfig };
  }
  // A free port for the first proxy is chosen before the IdP registers the console's redirect URI
  // there, and bound only when the proxy starts: another process may take it in between. Then the
  // tenant tries again with another port (the IdP's client registration with it).
  let proxies: { url: string; metrics: string; stop(): Promise<void>; reload(): void }[] | undefined;
  let front: Front | undefined;
  // the IdP of the attempt in progress answers (the proxy discovers it while it starts)
  idpServer.on("request", (req, res) => (front as Front).idp.handle(req, res));
  for (let attempt = 1; !proxies; attempt++) {
    front = await frontFor(options.port === 0 ? (options.freePort ?? freePort)() : options.port);
    const { tenantConfig, proxyPort } = front;
    try {
      // alerts are spooled in the tenant's temporary directory (shared by its replicas), never in the user's home
      const spoolDir = options.alerts && tempDir ? join(tempDir, "spool") : undefined;
      const ports = { ...options, port: proxyPort };
      proxies = replicas === 1 ? [await inProcessProxy(tenantConfig, ports, state, adminGroups, tls, spoolDir)] : await replicaProcesses(tenantConfig, upstreamKey, options, proxyPort, state, adminGroups, replicas, spoolDir);
    } catch (e) {
      if (options.port === 0 && replicas === 1 && attempt < 5 && (e as { code?: unknown }).code === "EADDRINUSE") continue;
      stub?.stop();
      await stopIdp();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      throw e;
    }
  }
  const { idp, consoleUrl } = front as Front;
  const first = proxies[0] as (typeof proxies)[number];

  return {
    info: {
      tenant: first.url,
      issuer: idp.issuer,
      client_id: CLIENT_ID,
      users: options.users.map(({ username, password, groups }) => ({ username, password, groups: groups ?? [] })),
      admin: `${origin}/_admin`,
      upstream: upstreamUrl,
      ...(stub ? { upstream_key: upstreamKey } : {}),
      metrics: first.metrics,
      proxies: proxies.map((p) => p.url),
      state: shownStateUrl(state),
      ...(options.adminGroup ? { admin_group: options.adminGroup } : {}),
      console: consoleUrl,
    },
    idp,
    reload: () => proxies.forEach((p) => p.reload()),
    stop: async () => {
      await Promise.all(proxies.map((p) => p.stop()));
      stub?.stop();
      await stopIdp();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    },
  };
}

async function inProcessProxy(tenantConfig: TenantConfig, options: TenantOptions, state: string, adminGroups: string[], tls: { cert: Buffer; key: Buffer } | undefined, spoolDir: string | undefined) {
  const tenant: TenantConfig = { ...tenantConfig, ...(options.alerts ? { alerts: parseAlerts(options.alerts, "--alerts-webhook / --alerts-secret-file") } : {}) };
  const policies = await TenantPolicies.open([tenant]);
  let pool: Pool;
  try {
    pool = await buildPool(tenant.pool, poolDeps(tenant.slug, {}));
  } catch (e) {
    policies.close();
    throw e;
  }
  const pools = new Map([[tenant.slug, pool]]);
  const proxy = startProxy({
    pools,
    config: { tenants: new Map([[tenant.slug, tenant]]), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 5000 },
    policies,
    ...(spoolDir ? { spoolDir } : {}),
    port: options.port,
    hostname: "127.0.0.1",
    metrics: { port: 0, hostname: "127.0.0.1" },
    state,
    adminGroups,
    userInfo: options.userInfo ?? true,
    ...(tls ? { tls: { cert: tls.cert.toString(), key: tls.key.toString() }, publicHost: "localhost" } : {}),
    log: options.log ?? ((line: LogLine) => process.stderr.write(JSON.stringify(line) + "\n")),
  });
  await proxy.ready();
  await proxy.consoleReady();
  return { url: proxy.url, metrics: `${proxy.metricsUrl}/metrics`, stop: () => proxy.shutdown(2000), reload: () => void reloadAll(gatewayReloaders(pools, policies)) };
}

/** `replicas` proxy processes (replica.ts) on ports `port`, `port+1`, … (or free ports for 0), sharing `state`. */
async function replicaProcesses(tenantConfig: TenantConfig, upstreamApiKey: string, options: TenantOptions, firstPort: number, state: string, adminGroups: string[], replicas: number, spoolDir: string | undefined) {
  const anyPort = options.port === 0;
  // Create a SQLite file once: several processes switching a new file to WAL at once fail "database is locked".
  if (state.startsWith("sqlite:")) await openState(state).close();
  const config = tenantConfig;
  const started = await Promise.allSettled(
    Array.from({ length: replicas }, (_, i) => {
      // the first on the port the console was registered with; the others after it, or free ones
      const spec: ReplicaSpec = { config, port: i === 0 ? firstPort : anyPort ? 0 : firstPort + i, state, adminGroups, userInfo: options.userInfo ?? true, ...(options.tls ? { tls: options.tls } : {}), ...(options.alerts ? { alerts: options.alerts } : {}), ...(spoolDir ? { spoolDir } : {}) };
      return startReplica(spec, upstreamApiKey);
    }),
  );
  const ok = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await Promise.all(ok.map((p) => p.stop()));
    throw failed.reason;
  }
  return ok;
}

function startReplica(spec: ReplicaSpec, upstreamApiKey: string): Promise<{ url: string; metrics: string; stop(): Promise<void>; reload(): void }> {
  const child: ChildProcess = spawn(process.execPath, [join(import.meta.dir, "replica.ts")], {
    // stdin: the replica stops when it closes, so a killed tenant leaves no proxy behind
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, [REPLICA_SPEC_ENV]: JSON.stringify(spec), [REPLICA_KEY_ENV]: upstreamApiKey, BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_UPSTREAM_CONNECTIONS },
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`proxy replica on port ${spec.port} did not start within 15 s`));
    }, 15_000);
    createInterface({ input: child.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      const ready = JSON.parse(line) as { url: string; metrics: string };
      resolve({ ...ready, stop, reload: () => void child.kill("SIGHUP") });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`proxy replica on port ${spec.port} exited with ${code} (see its error above)`));
    });
  });
}
