/** Prometheus metrics (prom-client), one registry per proxy instance. */
import { Counter, Registry, Gauge } from "prom-client";

/**
 * Counts kept as plain numbers on the request path and added to prom-client's counters when
 * metrics are read: a prom-client child still hashes its labels on every `inc`.
 */
class Tally {
  private readonly pending = new Map<string, { labels: string[]; n: number }>();
  add(key: string, labels: () => string[], n = 1): void {
    this.entry(key, labels).n += n;
  }
  /** The count of one label set, to add to directly. */
  entry(key: string, labels: () => string[]): { n: number } {
    let entry = this.pending.get(key);
    if (!entry) this.pending.set(key, (entry = { labels: labels(), n: 0 }));
    return entry;
  }
  flushInto(counter: Counter<string>): void {
    for (const entry of this.pending.values()) {
      if (entry.n !== 0) counter.labels(...entry.labels).inc(entry.n);
      entry.n = 0;
    }
  }
}

/** One exposed value, as prom-client's registry reads it. */
interface ExposedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
}

interface ExposedMetric {
  name: string;
  help: string;
  type: "histogram";
  values: ExposedValue[];
  aggregator: "sum";
}

interface Series {
  labels: Record<string, string>;
  /** Per bucket (not cumulative); the last one counts what is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram observed on the request path as plain numbers per label set (a bucket search and
 * three additions), read by the registry in prom-client's own format and order. prom-client's
 * Histogram converts, validates and hashes its labels on every observation, even through a child
 * (~1 µs each, two per request).
 */
export class RequestHistogram {
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  /** The series of one label set; `key` names it (the caller's cheap form of the labels). */
  seriesOf(key: string, labels: () => Record<string, string>): Series {
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: labels(), counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 }));
    return s;
  }

  observe(s: Series, value: number): void {
    if (!Number.isFinite(value)) return;
    const { buckets } = this;
    let i = 0;
    while (i < buckets.length && value > (buckets[i] as number)) i++;
    (s.counts[i] as number)++;
    s.sum += value;
    s.count++;
  }

  /** For the text exposition, as prom-client's Histogram gives it (the label set as shared labels, `le` first). */
  getForPromString(): ExposedMetric {
    const values: ExposedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i] as number;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** As JSON (registry.getMetricsAsJSON): the shared labels merged in. */
  get(): ExposedMetric {
    const data = this.getForPromString();
    data.values = data.values.map(({ sharedLabels, ...rest }) => ({ ...rest, labels: { ...rest.labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.series.clear();
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
  const duration = new RequestHistogram("proxy_request_duration_seconds", "Time from request to the end of the response (streams included)", [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300]);
  const upstreamTtfb = new RequestHistogram("proxy_upstream_ttfb_seconds", "Time until the upstream's response headers arrived", [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30]);
  registry.registerMetric(duration as never);
  registry.registerMetric(upstreamTtfb as never);
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
  /** Per tenant and model, the tallies of its token kinds, cost and unpriced requests: one key built per request. */
  const usageTallies = new Map<string, { kinds: Map<string, { n: number }>; cost: { n: number }; unpriced: { n: number } }>();
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
      duration.observe(duration.seriesOf(`${tenant}\0${route}`, () => ({ tenant, route })), seconds);
    },
    /** Token kinds and cost of one request; `model` must be bounded (a price-table key or "unknown"). */
    usage(tenant: string, model: string, kinds: Record<string, number>, costUsd: number | null): void {
      const key = `${tenant}\0${model}`;
      let tallies = usageTallies.get(key);
      if (!tallies) {
        const labels = () => [tenant, model];
        usageTallies.set(key, (tallies = { kinds: new Map(), cost: costTally.entry(key, labels), unpriced: unpricedTally.entry(key, labels) }));
      }
      for (const kind in kinds) {
        const n = kinds[kind] as number;
        if (n <= 0) continue;
        let entry = tallies.kinds.get(kind);
        if (!entry) tallies.kinds.set(kind, (entry = tokenTally.entry(`${key}\0${kind}`, () => [tenant, model, kind])));
        entry.n += n;
      }
      if (costUsd === null) tallies.unpriced.n++;
      else if (costUsd > 0) tallies.cost.n += costUsd;
    },
    upstreamTtfb(tenant: string, route: string, seconds: number): void {
      upstreamTtfb.observe(upstreamTtfb.seriesOf(`${tenant}\0${route}`, () => ({ tenant, route })), seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
