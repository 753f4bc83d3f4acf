/**
 * The tenant proxy over real HTTP: routing, forwarding, every rejection, streaming behaviour,
 * failures of the upstream, metrics and logs. Tokens are forged with a test key published by a
 * JWKS server (so every claim can be bent), and the upstream is the local tenant's stub.
 */
import { poolConfigOfTenant } from "../../src/proxy/upstreams/config.ts";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { startProxy, type RunningProxy } from "../../src/proxy/http/server.ts";
import type { LogLine } from "../../src/proxy/telemetry/log.ts";
import { UPSTREAM_KEY, useGateway } from "../support/gateway.ts";

const gateway = useGateway();
let proxy: RunningProxy;
let logs: LogLine[] = [];

beforeAll(async () => {
  proxy = startProxy({
    config: {
      domain: "proxy.example.test",
      tenants: new Map([
        ["acme", gateway.tenant("acme")],
        ["secure", gateway.tenant("secure", { requiredGroups: ["admins"] })],
      ]),
      trustForwardedHeaders: false,
      shutdownGraceMs: 5000,
    },
    port: 0,
    hostname: "127.0.0.1",
    metrics: { port: 0 },
    log: (line) => logs.push(line),
  });
  await proxy.ready();
});
afterAll(async () => {
  await proxy.shutdown(100);
});
beforeEach(async () => {
  logs = [];
  await fetch(`${gateway.stub.url}/_stub/reset`, { method: "POST" });
});

const HOST = "acme.proxy.example.test";

function call(path: string, init: RequestInit & { host?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("host", init.host ?? HOST);
  return fetch(`${proxy.url}${path}`, { ...init, headers });
}

function messages(token: string | null, body: Record<string, unknown> = {}, extraHeaders: Record<string, string> = {}, path = "/anthropic/v1/v1/messages?beta=true") {
  const headers: Record<string, string> = { "content-type": "application/json", "anthropic-version": "2023-06-01", ...extraHeaders };
  if (token !== null) {
    headers.authorization = `Bearer ${token}`;
    headers["x-api-key"] = token;
  }
  return call(path, { method: "POST", headers, body: JSON.stringify({ model: "claude-test", max_tokens: 16, messages: [{ role: "user", content: "hi" }], ...body }) });
}

async function lastUpstreamRequest() {
  const recorded = (await (await fetch(`${gateway.stub.url}/_stub/requests`)).json()) as { path: string; search: string; headers: Record<string, string>; body: string }[];
  return recorded.at(-1);
}

describe("forwarding", () => {
  test("the seed's base URL (/anthropic/v1 + /v1/messages) reaches upstream /v1/messages with the tenant key", async () => {
    const token = await gateway.forge.sign();
    const response = await messages(token, {}, { "anthropic-beta": "interleaved-thinking-2025-05-14,some-future-beta", cookie: "session=abc", "x-claude-code-session-id": "s1" });
    expect(response.status).toBe(200);
    expect(response.headers.get("request-id")).toStartWith("req_stub_");
    expect(response.headers.get("anthropic-ratelimit-requests-remaining")).toBe("999");
    const body = (await response.json()) as { usage: { input_tokens: number } };
    expect(body.usage.input_tokens).toBeGreaterThan(0);
    const seen = await lastUpstreamRequest();
    expect(seen?.path).toBe("/v1/messages");
    expect(seen?.search).toBe("?beta=true");
    expect(seen?.headers["x-api-key"]).toBe(UPSTREAM_KEY);
    expect(seen?.headers.authorization).toBeUndefined();
    expect(seen?.headers.cookie).toBeUndefined();
    expect(seen?.headers["anthropic-version"]).toBe("2023-06-01");
    expect(seen?.headers["anthropic-beta"]).toBe("interleaved-thinking-2025-05-14,some-future-beta");
    expect(seen?.headers["x-claude-code-session-id"]).toBe("s1");
    expect(JSON.stringify(seen)).not.toContain(token);
  });

  test("a base URL without /v1 works too, and the body passes unchanged", async () => {
    const token = await gateway.forge.sign();
    const body = JSON.stringify({ model: "m", max_tokens: 1, messages: [{ role: "user", content: "ünïcødé ✓" }], metadata: { user_id: "x" } });
    const response = await call("/anthropic/v1/messages", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });
    expect(response.status).toBe(200);
    const seen = await lastUpstreamRequest();
    expect(seen?.path).toBe("/v1/messages");
    expect(seen?.body).toBe(body);
  });

  test("count_tokens, models, and the HEAD probe", async () => {
    const token = await gateway.forge.sign();
    const count = await call("/anthropic/v1/v1/messages/count_tokens", { method: "POST", headers: { "x-api-key": token, "content-type": "application/json" }, body: JSON.stringify({ model: "m", messages: [] }) });
    expect(count.status).toBe(200);
    expect(((await count.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    const models = await call("/anthropic/v1/v1/models", { headers: { authorization: `Bearer ${token}` } });
    expect(models.status).toBe(200);
    expect(((await models.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
    const head = await call("/anthropic/v1", { method: "HEAD" });
    expect(head.status).toBe(200);
  });

  test("the x-api-key header alone is accepted (Bearer first when both are present)", async () => {
    const token = await gateway.forge.sign();
    expect((await call("/anthropic/v1/v1/models", { headers: { "x-api-key": token } })).status).toBe(200);
    const both = await call("/anthropic/v1/v1/models", { headers: { authorization: "Bearer garbage.garbage.garbage", "x-api-key": token } });
    expect(both.status).toBe(401);
  });

  test("upstream errors pass back unchanged (status, body, retry headers)", async () => {
    const errorBody = JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "Number of request tokens has exceeded your per-minute rate limit" } });
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "fail", status: 429, body: errorBody, headers: { "retry-after": "7", "x-should-retry": "true" } }) });
    const response = await messages(await gateway.forge.sign());
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("7");
    expect(response.headers.get("x-should-retry")).toBe("true");
    expect(await response.text()).toBe(errorBody);
  });

  test("an unreachable upstream is a 502 in Anthropic's error shape", async () => {
    const down = startProxy({
      config: { tenants: new Map(), single: gateway.tenant("down", { pool: poolConfigOfTenant({ upstream: "http://127.0.0.1:9", upstreamApiKey: "sk-any" }, "down") }), trustForwardedHeaders: false, shutdownGraceMs: 100 },
      port: 0,
      hostname: "127.0.0.1",
      log: () => {},
    });
    await down.ready();
    const response = await fetch(`${down.url}/anthropic/v1/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${await gateway.forge.sign()}` }, body: "{}" });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ type: "error", error: { type: "api_error" } });
    await down.shutdown(100);
  });
});

describe("rejections: 401 in Anthropic's shape with WWW-Authenticate, never echoing the token", () => {
  async function expect401(response: Response, messagePart: RegExp, token?: string) {
    expect(response.status).toBe(401);
    const text = await response.text();
    const body = JSON.parse(text);
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("authentication_error");
    expect(body.error.message).toMatch(messagePart);
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain('Bearer error="invalid_token"');
    expect(challenge).toContain(`resource_metadata="http://${HOST}/.well-known/oauth-protected-resource/anthropic"`);
    if (token && token.length > 10) {
      expect(text).not.toContain(token);
      expect(challenge).not.toContain(token);
    }
  }

  test("missing and empty credentials (what Claude Code sends when the helper failed)", async () => {
    await expect401(await messages(null), /missing credentials/);
    await expect401(await call("/anthropic/v1/v1/messages", { method: "POST", headers: { authorization: "Bearer ", "x-api-key": "" }, body: "{}" }), /missing credentials/);
  });

  test("garbage, truncated, non-ASCII and oversized credentials", async () => {
    const token = await gateway.forge.sign();
    await expect401(await messages("not-a-jwt"), /not a JWT/);
    await expect401(await messages(token.slice(0, token.lastIndexOf("."))), /not a JWT/, token);
    await expect401(await messages(token.slice(0, -10)), /signature/, token);
    await expect401(await call("/anthropic/v1/v1/models", { headers: { "x-api-key": "tøkén.ünï.cødé" } }), /not a JWT/);
    const huge = "a".repeat(100 * 1024);
    const big = await call("/anthropic/v1/v1/models", { headers: { authorization: `Bearer ${huge}` } });
    expect([401, 431]).toContain(big.status);
    // the proxy is still serving
    expect((await call("/anthropic/v1/v1/models", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  test("alg none and HS256 signed with the public key as secret", async () => {
    const claims = { iss: gateway.forge.issuer, token_use: "access", client_id: "agent-runner-cli", exp: Math.floor(Date.now() / 1000) + 600 };
    const none = `${Buffer.from(JSON.stringify({ alg: "none", kid: "forge-key-1" })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
    await expect401(await messages(none), /not a JWT|not accepted/);
    const noneWithSig = none + "c2ln";
    await expect401(await messages(noneWithSig), /"none" is not accepted/);
    const pem = new TextEncoder().encode(JSON.stringify(gateway.forge.publicJwk));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: "forge-key-1" }).sign(pem);
    await expect401(await messages(hs), /"HS256" is not accepted/, hs);
    const { publicKey } = await generateKeyPair("RS256", { extractable: true });
    const spki = new TextEncoder().encode(await exportSPKI(publicKey));
    const hs2 = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: "forge-key-1" }).sign(spki);
    await expect401(await messages(hs2), /not accepted/, hs2);
  });

  test("another issuer, an unknown kid, a bad signature", async () => {
    await expect401(await messages(await gateway.forge.sign({ iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other" })), /another identity provider/);
    await expect401(await messages(await gateway.forge.sign({}, { kid: "no-such-key" })), /key the tenant's identity provider does not publish/);
    await expect401(await messages(await gateway.forge.sign({}, {}, await gateway.forge.otherKey())), /signature/);
  });

  test("an ID token, a wrong client, an expired token; 60 s of skew tolerated", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect401(await messages(await gateway.forge.sign({ token_use: "id", aud: "agent-runner-cli" })), /ID token was sent/);
    await expect401(await messages(await gateway.forge.sign({ client_id: "some-other-app" })), /app client this tenant does not accept/);
    await expect401(await messages(await gateway.forge.sign({ exp: now - 120, iat: now - 3720 })), /expired/);
    await expect401(await messages(await gateway.forge.sign({ nbf: now + 300 })), /not valid yet/);
    expect((await messages(await gateway.forge.sign({ exp: now - 30 }))).status).toBe(200);
    expect((await messages(await gateway.forge.sign({ nbf: now + 30 }))).status).toBe(200);
  });

  test("a valid user outside the required group gets 403 permission_error", async () => {
    const response = await messages(await gateway.forge.sign(), {}, {}, "/anthropic/v1/v1/messages");
    expect(response.status).toBe(200);
    const forbidden = await call("/anthropic/v1/v1/messages", { method: "POST", host: "secure.proxy.example.test", headers: { authorization: `Bearer ${await gateway.forge.sign()}` }, body: "{}" });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ type: "error", error: { type: "permission_error" } });
    const admin = await call("/anthropic/v1/v1/models", { host: "secure.proxy.example.test", headers: { authorization: `Bearer ${await gateway.forge.sign({ "cognito:groups": ["admins"] })}` } });
    expect(admin.status).toBe(200);
  });

  test("an unknown tenant is 404; the upstream never sees rejected requests", async () => {
    const response = await call("/anthropic/v1/v1/messages", { method: "POST", host: "nobody.proxy.example.test", headers: { authorization: `Bearer ${await gateway.forge.sign()}` }, body: "{}" });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { type: "not_found_error" } });
    expect((await call("/anthropic/v1/v1/messages", { method: "POST", host: "acme.proxy.other.test", body: "{}" })).status).toBe(404);
    await messages("garbage");
    expect(gateway.stub.stats.requests).toBe(0);
  });

  test("a new signing key is picked up by refetching the JWKS, at most once per 10 s", async () => {
    const before = gateway.forge.jwksFetches();
    const newKey = await gateway.forge.addKey("forge-key-2");
    const token = await gateway.forge.sign({}, { kid: "forge-key-2" }, newKey);
    let status = 0;
    const started = Date.now();
    // the first fetch was at start-up: the refetch happens once 10 s have passed since then
    for (let i = 0; i < 60 && status !== 200; i++) {
      status = (await messages(token)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(gateway.forge.jwksFetches() - before).toBe(1);
    // a flood of unknown kids does not hammer the IdP
    for (let i = 0; i < 20; i++) await messages(await gateway.forge.sign({}, { kid: `forged-${i}` }));
    expect(gateway.forge.jwksFetches() - before).toBe(1);
  }, 20_000);
});

describe("streaming", () => {
  test("events arrive as the upstream sends them, unbuffered and uncompressed", async () => {
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 100, events: 10 }) });
    const started = performance.now();
    const response = await messages(await gateway.forge.sign(), { stream: true }, { "accept-encoding": "gzip, br" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(response.headers.get("content-encoding")).toBeNull();
    const reader = response.body!.getReader();
    const first = await reader.read();
    const firstAt = performance.now() - started;
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const lastAt = performance.now() - started;
    expect(text).toStartWith("event: message_start");
    expect(text).toContain("event: ping");
    expect(text.trimEnd()).toEndWith('data: {"type":"message_stop"}');
    // 15 events 100 ms apart: the first must arrive long before the last was sent
    expect(firstAt).toBeLessThan(500);
    expect(lastAt).toBeGreaterThan(1300);
    console.error(`time to first event ${firstAt.toFixed(1)} ms, stream end ${lastAt.toFixed(0)} ms`);
    // usage read from message_start / message_delta lands in the log line
    await new Promise((r) => setTimeout(r, 50));
    const line = logs.find((l) => l.route === "messages" && l.status === 200);
    expect(line).toMatchObject({ tenant: "acme", username: "alice", model: "claude-test", output_tokens: 10, completed: true });
    expect(line?.input_tokens).toBeGreaterThan(0);
  });

  test("a client that disconnects aborts the upstream request", async () => {
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 200, events: 50 }) });
    const controller = new AbortController();
    const response = await call("/anthropic/v1/v1/messages", {
      method: "POST",
      signal: controller.signal,
      headers: { authorization: `Bearer ${await gateway.forge.sign()}` },
      body: JSON.stringify({ model: "m", stream: true, messages: [] }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    let cancelled = 0;
    for (let i = 0; i < 40 && cancelled === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      cancelled = gateway.stub.stats.streamsCancelled;
    }
    expect(cancelled).toBe(1);
    expect(gateway.stub.stats.streamsCompleted).toBe(0);
    expect(logs.some((l) => l.completed === false)).toBe(true);
  });

  test("an upstream that resets mid-stream ends the client's stream; the proxy keeps serving", async () => {
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "reset-mid-stream" }) });
    const response = await messages(await gateway.forge.sign(), { stream: true });
    expect(response.status).toBe(200);
    let text = "";
    let failed = false;
    try {
      for await (const chunk of response.body!) text += new TextDecoder().decode(chunk);
    } catch {
      failed = true;
    }
    expect(failed || !text.includes("message_stop")).toBe(true);
    expect(text).toContain("message_start");
    await new Promise((r) => setTimeout(r, 50));
    expect(logs.find((l) => l.route === "messages")).toMatchObject({ status: 200, completed: false, outcome: "failed" });
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal" }) });
    expect((await messages(await gateway.forge.sign())).status).toBe(200);
  });

  test("graceful shutdown lets a stream in flight finish", async () => {
    const own = startProxy({ config: { tenants: new Map(), single: gateway.tenant("own"), trustForwardedHeaders: false, shutdownGraceMs: 10_000 }, port: 0, hostname: "127.0.0.1", log: () => {} });
    await own.ready();
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 50, events: 20 }) });
    const response = await fetch(`${own.url}/anthropic/v1/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${await gateway.forge.sign()}` }, body: JSON.stringify({ model: "m", stream: true, messages: [] }) });
    const stopping = own.shutdown();
    const text = await response.text();
    await stopping;
    expect(text).toContain("message_stop");
    expect(await fetch(`${own.url}/healthz`).catch(() => null)).toBeNull();
  });
});

describe("operations", () => {
  test("healthz, readyz, discovery, metrics; log lines carry no token", async () => {
    expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${proxy.url}/readyz`)).status).toBe(200);
    const discovery = await call("/.well-known/oauth-protected-resource/anthropic");
    expect(await discovery.json()).toMatchObject({ resource: `http://${HOST}/anthropic`, authorization_servers: [gateway.forge.issuer], agent_runner_auth: { client_id: "agent-runner-cli" } });
    const token = await gateway.forge.sign();
    await messages(token, { stream: true });
    await messages(token.slice(0, -6) + "AAAAAA");
    await new Promise((r) => setTimeout(r, 50));
    const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/proxy_requests_total\{tenant="acme",route="messages",status="200"\} \d+/);
    expect(metrics).toMatch(/proxy_token_verification_failures_total\{tenant="acme",reason="signature"\} \d+/);
    expect(metrics).toMatch(/proxy_model_tokens_total\{tenant="acme",model="unknown",kind="output"\} \d+/);
    expect(metrics).toContain("proxy_upstream_ttfb_seconds_bucket");
    expect(JSON.stringify(logs)).not.toContain(token);
    expect(JSON.stringify(logs)).not.toContain(UPSTREAM_KEY);
    const ok = logs.find((l) => l.status === 200);
    expect(ok).toMatchObject({ tenant: "acme", sub: "0f9e8d7c-1111-4222-a333-444455556666", username: "alice" });
    expect(ok?.upstream_request_id).toStartWith("req_stub_");
    expect(logs.find((l) => l.status === 401)?.reject_reason).toBe("signature");
  });
});
