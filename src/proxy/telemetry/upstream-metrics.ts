/**
 * Metrics per upstream of each tenant's pool, read from `pool.stats()` when metrics are
 * collected (nothing added on the request path): `proxy_upstream_requests_total` (attempts),
 * `proxy_upstream_failures_total{reason}`, `proxy_upstream_failovers_total` (requests that left
 * the upstream for another) and the gauge `proxy_upstream_circuit_state` (0 closed, 1 half-open,
 * 2 open).
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { CircuitState } from "../upstreams/breaker.ts";
import type { Pool } from "../upstreams/pool.ts";

const CIRCUIT: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

export function observePools(registry: Registry, pools: ReadonlyArray<{ tenant: string; pool: Pool }>): void {
  // prom-client counters only go up: each collect adds what the pool counted since the last one
  const seen = new Map<string, number>();
  const addTo = (counter: Counter<string>, labels: string[], total: number) => {
    const key = `${names.get(counter)}\0${labels.join("\0")}`;
    const delta = total - (seen.get(key) ?? 0);
    seen.set(key, total);
    if (delta > 0) counter.labels(...labels).inc(delta);
  };
  // read once per scrape, by the first metric collected (registration order), for all four
  const refresh = () => {
    for (const { tenant, pool } of pools) {
      for (const s of pool.stats()) {
        circuit.labels(tenant, s.name).set(CIRCUIT[s.circuit]);
        addTo(requests, [tenant, s.name, s.type], s.requests);
        addTo(failovers, [tenant, s.name], s.failovers);
        for (const [reason, n] of Object.entries(s.failures)) addTo(failures, [tenant, s.name, reason], n ?? 0);
      }
    }
  };
  const requests: Counter<string> = new Counter({ name: "proxy_upstream_requests_total", help: "Attempts sent to each upstream of a tenant's pool", labelNames: ["tenant", "upstream", "type"], registers: [registry], collect: refresh });
  const failures: Counter<string> = new Counter({ name: "proxy_upstream_failures_total", help: "Failed attempts by upstream and reason (unreachable, timeout, upstream_auth, or the status: 429, 500, 502, 503, 504, 529)", labelNames: ["tenant", "upstream", "reason"], registers: [registry] });
  const failovers: Counter<string> = new Counter({ name: "proxy_upstream_failovers_total", help: "Requests that left an upstream for the next one after it failed them", labelNames: ["tenant", "upstream"], registers: [registry] });
  const names = new Map<Counter<string>, string>([[requests, "requests"], [failures, "failures"], [failovers, "failovers"]]);
  const circuit = new Gauge({ name: "proxy_upstream_circuit_state", help: "Each upstream's circuit breaker: 0 closed, 1 half-open (probing), 2 open (skipped)", labelNames: ["tenant", "upstream"], registers: [registry] });
}
