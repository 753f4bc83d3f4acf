/** Prometheus metrics (prom-client), one registry per proxy instance. */
import { Counter, Histogram, Registry, Gauge } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  const requests = new Counter({ name: "proxy_requests_total", help: "Requests by tenant, route and status", labelNames: ["tenant", "route", "status"], registers: [registry] });
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
  const tokens = new Counter({ name: "proxy_model_tokens_total", help: "Model tokens by tenant and direction, read from the upstream's usage", labelNames: ["tenant", "direction"], registers: [registry] });
  const inflight = new Gauge({ name: "proxy_requests_in_flight", help: "Requests being handled (until their response headers are sent)", registers: [registry] });
  const jwksRefreshes = new Counter({ name: "proxy_jwks_refreshes_total", help: "JWKS fetches by tenant and outcome", labelNames: ["tenant", "outcome"], registers: [registry] });
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
    inflight,
    jwksRefreshes,
    request(tenant: string, route: string, status: number): void {
      child(`r\0${tenant}\0${route}\0${status}`, () => requests.labels(tenant, route, String(status))).inc();
    },
    duration(tenant: string, route: string, seconds: number): void {
      child(`d\0${tenant}\0${route}`, () => duration.labels(tenant, route)).observe(seconds);
    },
    upstreamTtfb(tenant: string, route: string, seconds: number): void {
      child(`t\0${tenant}\0${route}`, () => upstreamTtfb.labels(tenant, route)).observe(seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
