import { describe, expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { createMetrics, RequestHistogram } from "./metrics.ts";

describe("RequestHistogram", () => {
  test("exposes exactly what prom-client's Histogram exposes for the same observations", async () => {
    const reference = new Registry();
    const ours = new Registry();
    const buckets = [0.001, 0.005, 0.025, 1];
    const expected = new Histogram({ name: "h_seconds", help: "help text", labelNames: ["tenant", "route"], buckets, registers: [reference] });
    const histogram = new RequestHistogram("h_seconds", "help text", buckets);
    ours.registerMetric(histogram as never);
    const observations: [string, string, number][] = [["acme", "messages", 0.0005], ["acme", "messages", 0.001], ["acme", "messages", 0.03], ["acme", "messages", 7], ['q"uote', "models", 0.002], ["acme", "messages", 0.004]];
    for (const [tenant, route, value] of observations) {
      expected.labels(tenant, route).observe(value);
      histogram.observe(histogram.seriesOf(`${tenant}\0${route}`, () => ({ tenant, route })), value);
    }
    expect(await ours.metrics()).toBe(await reference.metrics());
    const json = (await ours.getMetricsAsJSON())[0] as unknown as { values: { labels: Record<string, unknown>; value: number; metricName: string }[] };
    expect(json.values.find((v) => v.metricName === "h_seconds_count" && v.labels.tenant === "acme")?.value).toBe(5);
    expect(json.values.find((v) => v.metricName === "h_seconds_bucket" && v.labels.le === 0.005 && v.labels.route === "messages")).toMatchObject({ value: 3, labels: { tenant: "acme", route: "messages" } });
  });

  test("the gateway's duration and time-to-first-byte series, by tenant and route", async () => {
    const metrics = createMetrics();
    metrics.duration("acme", "messages", 0.002);
    metrics.duration("acme", "messages", 0.2);
    metrics.upstreamTtfb("acme", "messages", 0.0015);
    const text = await metrics.registry.metrics();
    expect(text).toContain('proxy_request_duration_seconds_bucket{le="0.005",tenant="acme",route="messages"} 1');
    expect(text).toContain('proxy_request_duration_seconds_count{tenant="acme",route="messages"} 2');
    expect(text).toContain('proxy_upstream_ttfb_seconds_bucket{le="0.005",tenant="acme",route="messages"} 1');
  });

  test("token, cost and unpriced tallies reach their counters when read", async () => {
    const metrics = createMetrics();
    metrics.usage("acme", "claude-x", { input: 10, output: 0, cache_read: 3 }, 0.5);
    metrics.usage("acme", "claude-x", { input: 5, output: 2, cache_read: 0 }, 0.25);
    metrics.usage("acme", "unknown", { input: 1 }, null);
    const text = await metrics.registry.metrics();
    expect(text).toContain('proxy_model_tokens_total{tenant="acme",model="claude-x",kind="input"} 15');
    expect(text).toContain('proxy_model_tokens_total{tenant="acme",model="claude-x",kind="output"} 2');
    expect(text).toContain('proxy_model_tokens_total{tenant="acme",model="claude-x",kind="cache_read"} 3');
    expect(text).toContain('proxy_cost_usd_total{tenant="acme",model="claude-x"} 0.75');
    expect(text).toContain('proxy_unpriced_requests_total{tenant="acme",model="unknown"} 1');
    expect(text).not.toContain('proxy_unpriced_requests_total{tenant="acme",model="claude-x"}');
    expect(text).not.toContain('proxy_cost_usd_total{tenant="acme",model="unknown"}');
  });
});
