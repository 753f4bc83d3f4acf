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
  return { registry, requests, duration, upstreamTtfb, verificationFailures, tokens, inflight, jwksRefreshes };
}

export type Metrics = ReturnType<typeof createMetrics>;
