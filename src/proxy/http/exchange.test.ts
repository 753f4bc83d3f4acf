import { describe, expect, test } from "bun:test";
import { TokenRejected } from "../auth/verify.ts";
import type { TenantConfig } from "../config.ts";
import type { LogLine } from "../telemetry/log.ts";
import { createMetrics } from "../telemetry/metrics.ts";
import type { ProxyContext, TenantRuntime } from "./context.ts";
import { GatewayRefusal } from "./errors.ts";
import { Exchange } from "./exchange.ts";
import { forward } from "./forward.ts";
import { buildPoolNow } from "../upstreams/build.ts";
import { parsePoolConfig } from "../upstreams/config.ts";

/** What the exchange and forward use of the context: metrics, log, request ids, the upstream fetch and the idle hold. */
type FakeFetch = (url: string | URL | Request, init?: RequestInit) => Promise<Response>;

function fakeContext(fetch: FakeFetch = () => Promise.reject(new Error("no upstream here"))) {
  const lines: LogLine[] = [];
  const held: string[] = [];
  let n = 0;
  const ctx = {
    metrics: createMetrics(),
    log: (line: LogLine) => lines.push(line),
    newRequestId: () => `req_test_${++n}`,
    maxBodyBytes: 1000,
    fetch,
    connections: { hold: () => held.push("hold"), release: () => held.push("release") },
  } as unknown as ProxyContext;
  return { ctx, lines, held };
}

const runtime = { config: { slug: "acme" } as TenantConfig } as TenantRuntime;
const person = { tenant: "acme", sub: "sub-1", username: "ann", email: "ann@example.com", displayName: "ann@example.com", groups: ["eng"] };

describe("Exchange", () => {
  test("end writes one log line (who, what, the request id) and counts the request; a second end is ignored", async () => {
    const { ctx, lines } = fakeContext();
    const ex = new Exchange(ctx, new Request("http://acme.test/_gateway/v1/me/usage"), Date.now() - 5).forTenant(runtime, "https://acme.test");
    ex.route = "me_usage";
    ex.person = person;
    ex.end(200, { model: "m" });
    ex.end(500);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ tenant: "acme", method: "GET", route: "me_usage", status: 200, sub: "sub-1", username: "ann", display_name: "ann@example.com", groups: ["eng"], request_id: "req_test_1", model: "m" });
    expect(lines[0]!.duration_ms).toBeGreaterThanOrEqual(5);
    const metrics = await ctx.metrics.registry.metrics();
    expect(metrics).toContain('proxy_requests_total{tenant="acme",route="me_usage",status="200"} 1');
    expect(metrics).not.toContain('status="500"');
  });

  test("a refusal before the tenant is known: logged and counted as unknown, its request-id the log line's, its reason in the header", async () => {
    const { ctx, lines } = fakeContext();
    const ex = new Exchange(ctx, new Request("http://x/anthropic/v1/messages", { method: "POST" }), Date.now());
    const response = ex.refuse(new GatewayRefusal("bad_host", "bad host"));
    expect(response.status).toBe(400);
    expect(response.headers.get("x-agent-runner-reason")).toBe("bad_host");
    expect(response.headers.get("request-id")).toBe(lines[0]!.request_id!);
    expect(lines[0]).toMatchObject({ tenant: null, route: "other", status: 400, reject_reason: "bad_host" });
    expect(await ctx.metrics.registry.metrics()).toContain('proxy_requests_total{tenant="unknown",route="other",status="400"} 1');
  });

  test("unauthorized: 401 with the RFC 9728 challenge naming the tenant's discovery document; a missing group is 403 without one; the finer reason is logged and counted", async () => {
    const { ctx, lines } = fakeContext();
    const ex = new Exchange(ctx, new Request("http://acme.test/anthropic/v1/models"), Date.now()).forTenant(runtime, "https://acme.test");
    const expired = ex.unauthorized(new TokenRejected("signature", 'the "signature" is invalid'));
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toBe(`Bearer error="invalid_token", error_description="the 'signature' is invalid", resource_metadata="https://acme.test/.well-known/oauth-protected-resource/anthropic"`);
    expect(lines[0]).toMatchObject({ status: 401, reject_reason: "signature" });
    const other = new Exchange(ctx, new Request("http://acme.test/anthropic/v1/models"), Date.now()).forTenant(runtime, "https://acme.test");
    const group = other.unauthorized(new TokenRejected("group", "not in the group"));
    expect(group.status).toBe(403);
    expect(group.headers.get("www-authenticate")).toBeNull();
    expect(group.headers.get("x-agent-runner-reason")).toBe("group_required");
    expect(await ctx.metrics.registry.metrics()).toContain('proxy_token_verification_failures_total{tenant="acme",reason="signature"} 1');
  });

  test("tooLarge: 413 request_too_large naming the limit, the connection closed", async () => {
    const { ctx, lines } = fakeContext();
    const response = new Exchange(ctx, new Request("http://acme.test/"), Date.now()).forTenant(runtime, "").tooLarge();
    expect(response.status).toBe(413);
    expect(response.headers.get("connection")).toBe("close");
    expect(((await response.json()) as { error: { type: string; message: string } }).error).toMatchObject({ type: "request_too_large", message: expect.stringContaining("1000 bytes") });
    expect(lines[0]).toMatchObject({ status: 413, reject_reason: "body_too_large" });
  });

  test("writeFailed: the request's line again, with the error, and counted", async () => {
    const { ctx, lines } = fakeContext();
    const ex = new Exchange(ctx, new Request("http://acme.test/"), Date.now()).forTenant(runtime, "");
    ex.end(200, { input_tokens: 3 });
    ex.writeFailed(new Error("store and spool both refused"));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({ ...lines[0]!, state_error: "store and spool both refused" });
    expect(await ctx.metrics.registry.metrics()).toContain('proxy_state_events_total{event="write_failed",policy=""} 1');
  });
});

describe("forward, through the exchange and the tenant's pool", () => {
  const target = { route: "messages" as const, upstreamPath: "/v1/messages", search: "", body: new TextEncoder().encode("{}") };
  /** A runtime whose pool holds these upstreams (name → url), each with the key `sk-<name>`, over the fake fetch. */
  function poolRuntime(fetch: FakeFetch, upstreams: Record<string, string> = { anthropic: "https://upstream.test" }): TenantRuntime {
    const members = Object.entries(upstreams).map(([name, url]) => ({ name, type: "anthropic", url, apiKeyEnv: `KEY_${name.toUpperCase()}` }));
    const env = Object.fromEntries(Object.keys(upstreams).map((name) => [`KEY_${name.toUpperCase()}`, `sk-${name}`]));
    const pool = buildPoolNow(parsePoolConfig(members, undefined, "acme"), { tenant: "acme", log: () => {}, now: Date.now, random: Math.random, newRequestId: () => "req_pool", fetch: fetch as typeof globalThis.fetch, env });
    return { ...runtime, pool };
  }

  test("a whole answer: relayed with the upstream's key (never the client's), ended at once with its usage; the idle hold released", async () => {
    let sent: Request | undefined;
    const fetch: FakeFetch = async (url, init) => {
      sent = new Request(url as string, init);
      return Response.json({ model: "claude-x", usage: { input_tokens: 7, output_tokens: 2 } }, { headers: { "request-id": "req_up" } });
    };
    const { ctx, held } = fakeContext(fetch);
    const ex = new Exchange(ctx, new Request("http://acme.test/anthropic/v1/messages", { method: "POST", headers: { authorization: "Bearer client-token", "x-api-key": "client-token" }, body: "{}" }), Date.now()).forTenant(poolRuntime(fetch), "");
    const { response, end } = await forward(ex, target);
    expect(response.status).toBe(200);
    expect(sent?.url).toBe("https://upstream.test/v1/messages");
    expect(sent?.headers.get("x-api-key")).toBe("sk-anthropic");
    expect(sent?.headers.get("authorization")).toBeNull();
    expect(end).not.toBeInstanceOf(Promise);
    expect(end).toMatchObject({ outcome: "completed", status: 200, upstreamRequestId: "req_up", usage: { model: "claude-x", inputTokens: 7, outputTokens: 2 } });
    expect(held).toEqual(["hold", "release"]);
    expect([ex.upstream, ex.attempts]).toEqual(["anthropic", 1]);
  });

  test("a failed first upstream: the next one serves, and the log line names it with the attempts", async () => {
    const fetch: FakeFetch = async (url) => (String(url).startsWith("https://a.test") ? new Response("overloaded", { status: 529 }) : Response.json({}));
    const { ctx, lines } = fakeContext(fetch);
    const ex = new Exchange(ctx, new Request("http://acme.test/anthropic/v1/messages", { method: "POST", body: "{}" }), Date.now()).forTenant(poolRuntime(fetch, { primary: "https://a.test", fallback: "https://b.test" }), "");
    const { response } = await forward(ex, target);
    expect(response.status).toBe(200);
    ex.end(200);
    expect(lines[0]).toMatchObject({ upstream: "fallback", attempts: 2 });
  });

  test("every upstream refusing its key: 502 upstream_auth, never the upstream's 401", async () => {
    const fetch: FakeFetch = async () => new Response("{}", { status: 401 });
    const { ctx } = fakeContext(fetch);
    const ex = new Exchange(ctx, new Request("http://acme.test/anthropic/v1/messages", { method: "POST", body: "{}" }), Date.now()).forTenant(poolRuntime(fetch, { a: "https://a.test", b: "https://b.test" }), "");
    const { response, end } = await forward(ex, target);
    expect(response.status).toBe(502);
    expect(response.headers.get("x-agent-runner-reason")).toBe("upstream_auth");
    expect(end).toMatchObject({ outcome: "upstream_auth", status: 502, upstreamStatus: 401 });
    expect(ex.attempts).toBe(2);
  });

  test("an upstream that cannot be reached: 502 upstream_unreachable with the exchange's request id; the end says unreachable", async () => {
    const fetch: FakeFetch = () => Promise.reject(new Error("no upstream here"));
    const { ctx, held } = fakeContext(fetch);
    const ex = new Exchange(ctx, new Request("http://acme.test/anthropic/v1/messages", { method: "POST", body: "{}" }), Date.now()).forTenant(poolRuntime(fetch), "");
    const { response, end } = await forward(ex, target);
    expect(response.status).toBe(502);
    expect(response.headers.get("x-agent-runner-reason")).toBe("upstream_unreachable");
    expect(response.headers.get("request-id")).toBe(ex.requestId);
    expect(await response.text()).toContain("tried anthropic");
    expect(end).toMatchObject({ outcome: "unreachable", status: 502 });
    expect(held).toEqual(["hold", "release"]);
  });

  test("an SSE answer ends when its stream is over", async () => {
    const fetch: FakeFetch = async () => new Response('event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":4}}}\n\n', { headers: { "content-type": "text/event-stream" } });
    const { ctx } = fakeContext(fetch);
    const ex = new Exchange(ctx, new Request("http://acme.test/anthropic/v1/messages", { method: "POST", body: "{}" }), Date.now()).forTenant(poolRuntime(fetch), "");
    const { response, end } = await forward(ex, target);
    expect(end).toBeInstanceOf(Promise);
    expect(response.headers.get("cache-control")).toBe("no-cache");
    await response.text();
    expect(await end).toMatchObject({ outcome: "completed", usage: { model: "m", inputTokens: 4 } });
  });
});
