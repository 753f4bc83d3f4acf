/**
 * SIGHUP: what the gateway re-reads without a restart. Each part that can reload is in the list
 * serve.ts (and the local tenant's replica) hands in: the upstream pools' key files and AWS
 * credentials, the tenants' policy files. The handler is always installed: Bun exits on an
 * unhandled SIGHUP. Reloads run one after another; one that fails is logged and does not stop the others.
 */
import type { TenantPolicies } from "./policy/tenant-policies.ts";
import { logEvent } from "./telemetry/log.ts";
import type { Pool } from "./upstreams/pool.ts";

export interface Reloader {
  /** For the log line: what was re-read. */
  name: string;
  reload(): Promise<void> | void;
}

/** A gateway process's reloaders: each tenant's pool, then the policy files (each reload reported by its source). */
export function gatewayReloaders(pools: ReadonlyMap<string, Pool>, policies: TenantPolicies): Reloader[] {
  const reloaders: Reloader[] = [...pools].map(([slug, pool]) => ({ name: `tenant ${slug}'s upstream keys and credentials`, reload: () => pool.reload() }));
  if (policies.size > 0) reloaders.push({ name: "the policy files", reload: () => policies.reloadAll() });
  return reloaders;
}

export function onSighup(reloaders: readonly Reloader[], log = logEvent): () => void {
  let running: Promise<void> | undefined;
  const handler = () => {
    // a second SIGHUP while one runs waits for it, then reloads again
    running = (running ?? Promise.resolve()).then(() => reloadAll(reloaders, log));
  };
  process.on("SIGHUP", handler);
  return () => process.off("SIGHUP", handler);
}

export async function reloadAll(reloaders: readonly Reloader[], log = logEvent): Promise<void> {
  for (const r of reloaders) {
    try {
      await r.reload();
    } catch (e) {
      log("error", `SIGHUP: reloading ${r.name} failed, the previous one stays in force: ${(e as Error).message}`, { reload: r.name });
    }
  }
  log("info", `SIGHUP: reloaded ${reloaders.map((r) => r.name).join(", ") || "nothing"}`);
}
