/** Prometheus metrics (prom-client), one registry per proxy instance. */
import { Counter, Histogram, Registry, Gauge } from "prom-client";

/**
 * Counts kept as plain numbers on the request path and added to prom-client's counters when
 * metrics are read: a prom-client child still hashes its labels on every `inc`.
 */
class Tally {
  private readonly pending = new Map<string, { labels: string[]; n: number }>();
  add(key: string, labels: () => string[], n = 1): void {
    const entry = this.pending.get(key);
    if (entry) entry.n += n;
    else this.pending.set(key, { labels: labels(), n });
  }
  flushInto(counter: Counter<string>): void {
    for (const entry of this.pending.values()) {
      if (entry.n !== 0) counter.labels(...entry.labels).inc(entry.n);
      entry.n = 0;
    }
  }
}

export function createMetrics() {
  const registry = new Registry();
  const requestTally = new Tally();
  const tokenTally = new Tally();
  const costTally = new Tally();
  const unpricedTally = new Tally();
  const requests: Counter<string> = new Counter({
    name: "proxy_requests_total",
    help: "Requests by tenant, route and status",
    labelNames: ["tenant", "route", "status"],
    registers: [registry],
    collect: () => requestTally.flushInto(requests),
  });
  const duration = new Histogram({
    name: "proxy_request_duration_seconds",
    help: "Time from request to the end of the response (streams included)",
    labelNames: ["tenant", "route"],
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  });
  const upstreamTtfb = new Histogram({
    name: "proxy_upstream_ttfb_seconds",
    help: "Time until the upstream's response headers arrived",
    labelNames: ["tenant", "route"],
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const verificationFailures = new Counter({ name: "proxy_token_verification_failures_total", help: "Rejected credentials by reason", labelNames: ["tenant", "reason"], registers: [registry] });
  const tokens: Counter<string> = new Counter({
    collect: () => tokenTally.flushInto(tokens),
    name: "proxy_model_tokens_total",
    help: "Model tokens read from the upstream's usage, by tenant, model (the price table's key, or \"unknown\") and kind (input, output, cache_write_5m, cache_write_1h, cache_read)",
    labelNames: ["tenant", "model", "kind"],
    registers: [registry],
  });
  const cost: Counter<string> = new Counter({ name: "proxy_cost_usd_total", help: "Cost of the requests served, in USD, by tenant and model (priced models only)", labelNames: ["tenant", "model"], registers: [registry], collect: () => costTally.flushInto(cost) });
  const unpriced: Counter<string> = new Counter({ name: "proxy_unpriced_requests_total", help: "Requests whose model has no price (tokens counted, cost unknown)", labelNames: ["tenant", "model"], registers: [registry], collect: () => unpricedTally.flushInto(unpriced) });
  const refusals = new Counter({ name: "proxy_limit_refusals_total", help: "Requests refused by a budget or rate limit, by reason", labelNames: ["tenant", "reason"], registers: [registry] });
  const stateEvents = new Counter({ name: "proxy_state_events_total", help: "State store events: degraded (unreachable), recovered, dropped (fail-open queue full), write_failed", labelNames: ["event", "policy"], registers: [registry] });
  const stateDegraded = new Gauge({ name: "proxy_state_degraded", help: "1 while the state store is unreachable", registers: [registry] });
  const inflight = new Gauge({ name: "proxy_requests_in_flight", help: "Requests being handled (until their response headers are sent)", registers: [registry] });
  const upstreamAuthFailures = new Counter({
    name: "proxy_upstream_auth_failures_total",
    help: "Requests the upstream refused with 401/403 for the tenant's own API key (answered 502 upstream_auth): alert on any increase",
    labelNames: ["tenant", "status"],
    registers: [registry],
  });
  const jwksRefreshes = new Counter({ name: "proxy_jwks_refreshes_total", help: "JWKS fetches by tenant and outcome", labelNames: ["tenant", "outcome"], registers: [registry] });
  // issue 18: offboarding from the directory, budget alerts, the audit log
  const directoryChecks = new Counter({ name: "proxy_directory_checks_total", help: "Sessions re-checked at the issuer's userInfo, by result: ok, revoked (401: denylisted), error (5xx, timeout, network: never a revocation), skipped", labelNames: ["tenant", "result"], registers: [registry] });
  const alerts = new Counter({ name: "proxy_alerts_total", help: "Budget alert deliveries by result: delivered, retry, rejected (a 4xx), expired (given up after 24 h)", labelNames: ["tenant", "result"], registers: [registry] });
  const auditFailures = new Counter({ name: "proxy_audit_write_failures_total", help: "Audit rows the state store could not take (the change itself was made)", labelNames: ["tenant", "action"], registers: [registry] });
  // prom-client hashes the label object on every call; on the request path, keep the children.
  const children = new Map<string, { inc(n?: number): void; observe?(v: number): void }>();
  function child<T extends { inc(n?: number): void } | { observe(v: number): void }>(key: string, make: () => T): T {
    let c = children.get(key) as T | undefined;
    if (!c) {
      c = make();
      children.set(key, c as never);
    }
    return c;
  }
  return {
    registry,
    verificationFailures,
    tokens,
    cost,
    unpriced,
    refusals,
    stateEvents,
    stateDegraded,
    inflight,
    jwksRefreshes,
    upstreamAuthFailures,
    directoryChecks,
    alerts,
    auditFailures,
    request(tenant: string, route: string, status: number): void {
      requestTally.add(`${tenant}\0${route}\0${status}`, () => [tenant, route, String(status)]);
    },
    duration(tenant: string, route: string, seconds: number): void {
      child(`d\0${tenant}\0${route}`, () => duration.labels(tenant, route)).observe(seconds);
    },
    /** Token kinds and cost of one request; `model` must be bounded (a price-table key or "unknown"). */
    usage(tenant: string, model: string, kinds: Record<string, number>, costUsd: number | null): void {
      for (const kind in kinds) {
        const n = kinds[kind] as number;
        if (n > 0) tokenTally.add(`${tenant}\0${model}\0${kind}`, () => [tenant, model, kind], n);
      }
      if (costUsd === null) unpricedTally.add(`${tenant}\0${model}`, () => [tenant, model]);
      else if (costUsd > 0) costTally.add(`${tenant}\0${model}`, () => [tenant, model], costUsd);
    },
    upstreamTtfb(tenant: string, route: string, seconds: number): void {
      child(`t\0${tenant}\0${route}`, () => upstreamTtfb.labels(tenant, route)).observe(seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
