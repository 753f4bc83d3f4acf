/**
 * Runs the tenant gateway in this process with options read by readProxyOptions (options.ts):
 * the listeners, the start-up line on stderr, and draining on SIGTERM/SIGINT. main.ts calls it for
 * a single process and in each worker of a `--workers` supervisor. The tenants' policies are
 * opened before anything listens (an invalid first file is a start-up error) and re-read on
 * SIGHUP (the supervisor forwards it to each worker).
 */
import { startProxy, type RunningProxy } from "./http/server.ts";
import type { ProxyProcessOptions } from "./options.ts";
import { DEFAULT_STATE_URL } from "./state/open.ts";
import { StateError } from "./state/types.ts";
import { PolicyError } from "../shared/policy/errors.ts";
import { TenantPolicies } from "./policy/tenant-policies.ts";
import { logEvent } from "./telemetry/log.ts";

/** The gateway could not start (the state store cannot be opened, a port is taken): the process exits 2 with the message. */
export class ServeError extends Error {
  override readonly name = "ServeError";
  readonly code = "serve";
}

export async function serve(options: ProxyProcessOptions): Promise<RunningProxy> {
  const { config, host, port, metrics } = options;
  let policies: TenantPolicies;
  try {
    policies = await TenantPolicies.open(config.single ? [config.single] : [...config.tenants.values()]);
  } catch (e) {
    if (e instanceof PolicyError) throw new ServeError(`policy ${e.message}`, { cause: e });
    throw e;
  }
  let proxy: RunningProxy;
  try {
    proxy = startProxy({
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
    });
  } catch (e) {
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
  });
  process.on("SIGHUP", () => {
    // handled even without a policy: SIGHUP's default action would end the process
    logEvent("info", policies.size > 0 ? "SIGHUP: reading the policy files again" : "SIGHUP: no policy file to read");
    void policies.reloadAll();
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      logEvent("info", `${signal}: draining requests in flight`);
      void proxy.shutdown().then(() => process.exit(0));
    });
  }
  return proxy;
}
