/**
 * One proxy replica of the local tenant (`--replicas N`), as its own process: the same
 * `startProxy` the single-replica tenant runs in-process, with the tenant's full configuration
 * (discovery's redirect URIs and lifetimes included, which the proxy's single-tenant flags do not
 * carry). Started by tenant.ts with the specification in ARA_TENANT_REPLICA (no secrets) and the
 * upstream key in ARA_TENANT_REPLICA_KEY; prints `{"url","metrics"}` on stdout once listening;
 * stops, letting streams finish, on SIGTERM/SIGINT or when the tenant goes away (stdin closes).
 */
import { readFileSync } from "node:fs";
import { parseAlerts, type TenantConfig } from "../proxy/config.ts";
import { poolDeps, startProxy } from "../proxy/http/server.ts";
import { TenantPolicies } from "../proxy/policy/tenant-policies.ts";
import { gatewayReloaders, onSighup } from "../proxy/reload.ts";
import { buildPool } from "../proxy/upstreams/build.ts";

export interface ReplicaSpec {
  /** The pool's key is `{"kind": "env", "name": ARA_TENANT_REPLICA_KEY}` (never in the spec) unless the pool came from `--upstreams FILE`. */
  config: TenantConfig;
  port: number;
  state: string;
  adminGroups: string[];
  userInfo: boolean;
  tls?: { certFile: string; keyFile: string };
  /** Budget alerts: the webhook and the secret's file (read here, so no secret is in the spec). */
  alerts?: { webhook: string; secretFile?: string };
  spoolDir?: string;
}

export const REPLICA_SPEC_ENV = "ARA_TENANT_REPLICA";
export const REPLICA_KEY_ENV = "ARA_TENANT_REPLICA_KEY";

if (import.meta.main) {
  const spec = JSON.parse(process.env[REPLICA_SPEC_ENV] ?? "null") as ReplicaSpec | null;
  if (!spec) {
    process.stderr.write(`tenant replica: started without ${REPLICA_SPEC_ENV} (tenant.ts starts replicas)\n`);
    process.exit(2);
  }
  // the key is read into the pool once, then leaves the environment
  const pool = await buildPool(spec.config.pool, { ...poolDeps(spec.config.slug, {}), env: { ...process.env } });
  delete process.env[REPLICA_KEY_ENV];
  const tenant: TenantConfig = { ...spec.config, ...(spec.alerts ? { alerts: parseAlerts(spec.alerts, "--alerts-webhook / --alerts-secret-file") } : {}) };
  const tls = spec.tls ? { cert: readFileSync(spec.tls.certFile, "utf8"), key: readFileSync(spec.tls.keyFile, "utf8") } : undefined;
  const policies = await TenantPolicies.open([tenant]);
  const pools = new Map([[tenant.slug, pool]]);
  onSighup(gatewayReloaders(pools, policies));
  const proxy = startProxy({
    config: { tenants: new Map([[tenant.slug, tenant]]), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 5000 },
    policies,
    port: spec.port,
    hostname: "127.0.0.1",
    metrics: { port: 0, hostname: "127.0.0.1" },
    state: spec.state,
    ...(spec.spoolDir ? { spoolDir: spec.spoolDir } : {}),
    adminGroups: spec.adminGroups,
    pools,
    userInfo: spec.userInfo,
    ...(tls ? { tls, publicHost: "localhost" } : {}),
    log: (line) => process.stderr.write(JSON.stringify(line) + "\n"),
  });
  await proxy.ready();
  await proxy.consoleReady();
  process.stdout.write(JSON.stringify({ url: proxy.url, metrics: `${proxy.metricsUrl}/metrics` }) + "\n");
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void proxy.shutdown(2000).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
}
