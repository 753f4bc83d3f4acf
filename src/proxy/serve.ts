/**
 * Runs the tenant gateway in this process with options read by readProxyOptions (options.ts):
 * the tenants' policies and upstream pools (opened first: an invalid first policy file, or a key file
 * or AWS credentials that cannot be read fail the start), the listeners, the start-up line on
 * stderr, draining on SIGTERM/SIGINT, and SIGHUP re-reading what can be reloaded (reload.ts: the
 * pools' keys and credentials, the policy files; the supervisor forwards it to each worker).
 * main.ts calls it for a single process and in each worker of a `--workers` supervisor.
 */
import { poolDeps, startProxy, type RunningProxy } from "./http/server.ts";
import { gatewayReloaders, onSighup } from "./reload.ts";
import type { ProxyProcessOptions } from "./options.ts";
import { DEFAULT_STATE_URL } from "./state/open.ts";
import { MEMORY_LEDGER_ROWS } from "./state/sqlite.ts";
import { StateError } from "./state/types.ts";
import { PolicyError } from "../shared/policy/errors.ts";
import { TenantPolicies } from "./policy/tenant-policies.ts";
import { logEvent } from "./telemetry/log.ts";
import { buildPool } from "./upstreams/build.ts";
import type { Pool } from "./upstreams/pool.ts";
import { UpstreamError } from "./upstreams/types.ts";
import { consoleAssetsFor } from "./console/assets.ts";

/** The gateway could not start (the state store cannot be opened, a port is taken): the process exits 2 with the message. */
export class ServeError extends Error {
  override readonly name = "ServeError";
  readonly code = "serve";
}

export async function serve(options: ProxyProcessOptions): Promise<RunningProxy> {
  const { config, host, port, metrics } = options;
  const policies = await openPolicies(options);
  let pools: Map<string, Pool>;
  try {
    pools = await openPools(options);
  } catch (e) {
    policies.close();
    throw e;
  }
  let proxy: RunningProxy;
  try {
    proxy = startProxy({
      pools,
      policies,
      config,
      port,
      hostname: host,
      ...(metrics ? { metrics: { port: metrics.port, hostname: metrics.host } } : {}),
      state: options.state ?? DEFAULT_STATE_URL,
      stateFailure: options.stateFailure,
      ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
      ...(options.adminGroups ? { adminGroups: options.adminGroups } : {}),
      ...(options.adminKey !== undefined ? { adminKey: options.adminKey } : {}),
      // set by the --workers supervisor (main.ts, workers.ts) so its workers share the port
      reusePort: options.reusePort,
      userInfo: options.userInfo,
      // the admin console's bundle: the supervisor's (workers.ts), else built once here
      ...(tenantsOf(options).some((t) => t.console) ? { consoleAssets: consoleAssetsFor(process.env) } : {}),
    });
  } catch (e) {
    for (const pool of pools.values()) pool.close();
    policies.close();
    if (e instanceof StateError) throw new ServeError(e.message, { cause: e });
    const where = `${host}:${port}, metrics ${metrics ? `${metrics.host}:${metrics.port}` : "off"}`;
    throw new ServeError(`cannot listen (${where}): ${(e as Error).message}; choose free ports with --port (PORT) and --metrics-port (AGENT_RUNNER_PROXY_METRICS_PORT): replicas on one host each need their own`, { cause: e });
  }
  const { store, failure, spoolDir } = proxy.stateInForce;
  logEvent("info", `listening on ${proxy.url}`, {
    metrics: proxy.metricsUrl ?? "off",
    tenants: config.single ? [config.single.slug] : [...config.tenants.keys()],
    state: store,
    state_failure: failure,
    spool_dir: spoolDir,
    upstreams: Object.fromEntries([...pools].map(([slug, pool]) => [slug, pool.stats().map((s) => `${s.name} (${s.type})`)])),
  });
  if (options.state === undefined && store === DEFAULT_STATE_URL) {
    logEvent("warn", `--state is not set: budgets, limits, revocations and usage live in this process's memory and are lost when it stops, and the usage ledger keeps its latest ${MEMORY_LEDGER_ROWS} records; set --state sqlite:/var/lib/agent-runner/state.db (one host) or a redis:// URL (several)`, { state: store });
  }
  onSighup(gatewayReloaders(pools, policies));
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      logEvent("info", `${signal}: draining requests in flight`);
      void proxy.shutdown().then(() => process.exit(0));
    });
  }
  return proxy;
}

const tenantsOf = (options: ProxyProcessOptions) => (options.config.single ? [options.config.single] : [...options.config.tenants.values()]);

/** Every tenant's policy, validated and watched; an invalid or missing first file fails the start. */
async function openPolicies(options: ProxyProcessOptions): Promise<TenantPolicies> {
  try {
    return await TenantPolicies.open(options.config.single ? [options.config.single] : [...options.config.tenants.values()]);
  } catch (e) {
    if (e instanceof PolicyError) throw new ServeError(`policy ${e.message}`, { cause: e });
    throw e;
  }
}

/** Every tenant's pool, its key files and AWS credentials opened; one that cannot be read fails the start (exit 2, naming the upstream). */
async function openPools(options: ProxyProcessOptions): Promise<Map<string, Pool>> {
  const tenants = options.config.single ? [options.config.single] : [...options.config.tenants.values()];
  const pools = new Map<string, Pool>();
  try {
    for (const tenant of tenants) pools.set(tenant.slug, await buildPool(tenant.pool, poolDeps(tenant.slug, {})));
  } catch (e) {
    for (const pool of pools.values()) pool.close();
    if (e instanceof UpstreamError) throw new ServeError(e.message, { cause: e });
    throw e;
  }
  return pools;
}
