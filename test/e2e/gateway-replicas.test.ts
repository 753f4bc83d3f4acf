/**
 * Two real proxy processes sharing a real redis-server: usage totals equal what the upstream
 * reported (JSON, SSE, a stream cut by the client; cache tokens included), a budget that holds
 * under 50 concurrent streams over both replicas, a rate limit shared by both, revocation and
 * logout seen by both within 2 s, admin API authentication, and a replica killed and restarted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestRedis, type TestRedis } from "../../src/proxy/state/testing/redis-server.ts";
import { startStubUpstream, stubOutputTokens, stubUsage } from "../../src/tenant/stub-upstream.ts";
import { ADMIN_GROUP, ADMIN_KEY, admin, gatewayDir, messageBody, post, type ProxyProcess, startProxyProcess, UPSTREAM_KEY, within } from "../support/gateway-cluster.ts";
import { startForge, type Forge } from "../support/forge.ts";

const FULL_OUTPUT = stubOutputTokens("Hello from the local agent-runner tenant. Your token was verified by the proxy.");
let redis: TestRedis;
let forge: Forge;
let stub: ReturnType<typeof startStubUpstream>;
let a: ProxyProcess;
let b: ProxyProcess;
let files: ReturnType<typeof gatewayDir>;

const person = (username: string, extra: Record<string, unknown> = {}) => forge.sign({ sub: `sub-${username}`, username, "cognito:groups": ["developers"], origin_jti: `session-${username}-${crypto.randomUUID()}`, ...extra });
const start = () => startProxyProcess({ issuer: forge.issuer, upstream: stub.url, state: redis.url, adminKeyFile: files.adminKeyFile, upstreamKeyFile: files.upstreamKeyFile });
const report = async (by = "user") => (await (await admin(a.url, `usage?by=${by}`, ADMIN_KEY)).json()) as Record<string, number | string>[];

beforeAll(async () => {
  redis = await startTestRedis({ persistent: true });
  forge = await startForge();
  stub = startStubUpstream({ apiKey: UPSTREAM_KEY });
  files = gatewayDir();
  [a, b] = await Promise.all([start(), start()]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  stub?.stop();
  forge?.stop();
  await redis?.dispose();
});

describe("usage and cost through two replicas", () => {
  test("totals equal the upstream's usage: JSON, SSE and a stream cut by the client, cache tokens included", async () => {
    const token = await person("ulla");
    const bodies = [messageBody(), messageBody({ stream: true }), messageBody({ system: "x".repeat(400) }), messageBody({ stream: true, system: "y".repeat(200) })];
    for (const [i, body] of bodies.entries()) {
      const response = await post(i % 2 ? b.url : a.url, token, body);
      expect(response.status).toBe(200);
      await response.text();
    }
    // a stream the client abandons after the first chunk: message_start's figures still count
    await fetch(`${stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal", eventDelayMs: 150 }) });
    const cut = messageBody({ stream: true, system: "cut" });
    const controller = new AbortController();
    const response = await post(b.url, token, cut, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await fetch(`${stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal" }) });

    const all = [...bodies, cut].map((body) => stubUsage(body));
    const sum = (f: (u: ReturnType<typeof stubUsage>) => number) => all.reduce((n, u) => n + f(u), 0);
    let row: Record<string, number | string> | undefined;
    await within(2000, async () => {
      row = (await report()).find((r) => r.sub === "sub-ulla");
      return row?.requests === 5;
    });
    expect(row).toMatchObject({
      user: "ulla",
      requests: 5,
      input_tokens: sum((u) => u.input_tokens),
      cache_creation_input_tokens: sum((u) => u.cache_creation_input_tokens),
      cache_read_input_tokens: sum((u) => u.cache_read_input_tokens),
    });
    expect(sum((u) => u.cache_read_input_tokens)).toBeGreaterThan(0);
    // four whole answers, and the cut one's output as far as it went (message_start says 1)
    expect(row?.output_tokens).toBeGreaterThanOrEqual(4 * FULL_OUTPUT + 1);
    expect(row?.output_tokens).toBeLessThan(5 * FULL_OUTPUT);
    expect(Number(row?.cost_usd)).toBeGreaterThan(0);
    const csv = await (await admin(a.url, "usage?by=model&format=csv", ADMIN_KEY)).text();
    expect(csv.split("\r\n")[0]).toBe("model,requests,input_tokens,output_tokens,cache_creation_input_tokens,cache_creation_5m_input_tokens,cache_creation_1h_input_tokens,cache_read_input_tokens,web_search_requests,cost_usd,unpriced_requests");
    expect(csv).toContain("claude-sonnet-4-5");
    // the person sees the same figures
    const me = (await (await fetch(`${b.url}/_gateway/v1/me/usage`, { headers: { authorization: `Bearer ${token}` } })).json()) as { today: Record<string, number>; month: Record<string, number> };
    expect(me.today.cache_read_input_tokens).toBe(sum((u) => u.cache_read_input_tokens));
    expect(me.month.requests).toBe(5);
  }, 20_000);
});

describe("limits shared by the replicas", () => {
  test("50 concurrent streams over 2 replicas against a budget worth 10: accepted spend within budget + one estimate error", async () => {
    const body = messageBody({ stream: true });
    const usage = stubUsage(body);
    // one request's real cost at claude-sonnet-4-5 ($3 in, $15 out, $3.75 5m write, $0.30 read per MTok), in micro-dollars
    const real = usage.input_tokens * 3 + FULL_OUTPUT * 15 + usage.cache_creation_input_tokens * 3.75 + usage.cache_read_input_tokens * 0.3;
    const estimate = Math.ceil(body.length / 4) * 3 + 16 * 15;
    const budgetUsd = (10 * real) / 1e6;
    expect((await admin(a.url, "budgets", ADMIN_KEY, { method: "PUT", body: JSON.stringify({ user: "bob", period: "day", usd: budgetUsd }) })).status).toBe(200);
    await fetch(`${stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal", eventDelayMs: 40 }) });
    const token = await person("bob");
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const response = await post(i % 2 ? b.url : a.url, token, body);
        const text = await response.text();
        return { status: response.status, text };
      }),
    );
    await fetch(`${stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal" }) });
    const accepted = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429 || r.status === 403);
    expect(accepted + refused.length).toBe(50);
    expect(refused[0]?.text).toContain("daily budget");
    let spent = 0;
    await within(2000, async () => {
      const row = (await report()).find((r) => r.sub === "sub-bob");
      spent = Number(row?.cost_usd ?? 0) * 1e6;
      return row?.requests === accepted;
    });
    console.log(`budget ${Math.round(10 * real)} µ$, one estimate ${estimate} µ$ (real ${Math.round(real)}): ${accepted}/50 accepted, spent ${Math.round(spent)} µ$, overshoot ${Math.round(spent - 10 * real)} µ$`);
    expect(accepted).toBeGreaterThanOrEqual(5);
    expect(spent).toBeLessThanOrEqual(10 * real + (estimate - real) + 1);
  }, 30_000);

  test("a rate limit set once holds across both replicas: 429 rate_limit_error with retry-after and anthropic-ratelimit headers", async () => {
    expect((await admin(b.url, "limits", ADMIN_KEY, { method: "PUT", body: JSON.stringify({ user: "rita", rpm: 3 }) })).status).toBe(200);
    const token = await person("rita");
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(i % 2 ? b.url : a.url, token, messageBody())).status);
    expect(statuses).toEqual([200, 200, 200]);
    const refused = await post(b.url, token, messageBody());
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.headers.get("anthropic-ratelimit-requests-limit")).toBe("3");
    expect(refused.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0");
    expect(refused.headers.get("anthropic-ratelimit-requests-reset")).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(((await refused.json()) as { error: { type: string; message: string } }).error).toMatchObject({ type: "rate_limit_error" });
    expect((await post(a.url, token, messageBody())).status).toBe(429);
    // another person is not limited by rita's limit
    expect((await post(a.url, await person("other"), messageBody())).status).toBe(200);
  }, 15_000);
});

describe("offboarding and logout", () => {
  test("an admin revokes a user: both replicas answer 401 within 2 s; restore lets them back", async () => {
    const token = await person("carol", { email: "Carol@Example.com" });
    expect((await post(a.url, token, messageBody())).status).toBe(200);
    expect((await post(b.url, token, messageBody())).status).toBe(200);
    const revoke = await admin(a.url, "revocations", ADMIN_KEY, { method: "POST", body: JSON.stringify({ user: "carol@example.com", reason: "left" }) });
    expect(revoke.status).toBe(200);
    const times = await Promise.all([a, b].map((p) => within(2000, async () => (await post(p.url, token, messageBody())).status === 401)));
    console.log(`revocation seen by the replicas after ${times.map((t) => Math.round(t)).join(" / ")} ms`);
    for (const t of times) expect(t).toBeLessThan(2000);
    const denied = await post(b.url, token, messageBody());
    expect(((await denied.json()) as { error: { type: string; message: string } }).error.message).toContain("revoked");
    const list = (await (await admin(b.url, "revocations", ADMIN_KEY)).json()) as { kind: string; value: string }[];
    expect(list).toContainEqual(expect.objectContaining({ kind: "email", value: "carol@example.com" }));
    expect((await admin(b.url, "revocations?user=carol@example.com", ADMIN_KEY, { method: "DELETE" })).status).toBe(200);
    await within(2000, async () => (await post(a.url, token, messageBody())).status === 200);
  }, 15_000);

  test("logout at the proxy ends that session on both replicas within 2 s; another session of the same person still works", async () => {
    const session = `session-dave-${crypto.randomUUID()}`;
    const token = await forge.sign({ sub: "sub-dave", username: "dave", origin_jti: session });
    const refreshed = await forge.sign({ sub: "sub-dave", username: "dave", origin_jti: session }); // same sign-in, later token
    const otherDevice = await person("dave", { sub: "sub-dave" });
    expect((await post(a.url, token, messageBody())).status).toBe(200);
    const discovery = (await (await fetch(`${b.url}/.well-known/oauth-protected-resource/anthropic`)).json()) as { agent_runner_auth: { logout_endpoint: string } };
    expect(discovery.agent_runner_auth.logout_endpoint).toBe(`${b.url}/_gateway/v1/logout`);
    const out = await fetch(discovery.agent_runner_auth.logout_endpoint, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(out.status).toBe(200);
    expect(((await out.json()) as { revoked: string }).revoked).toBe("session");
    const times = await Promise.all([a, b].map((p) => within(2000, async () => (await post(p.url, refreshed, messageBody())).status === 401)));
    console.log(`logout seen by the replicas after ${times.map((t) => Math.round(t)).join(" / ")} ms`);
    for (const t of times) expect(t).toBeLessThan(2000);
    expect((await post(a.url, otherDevice, messageBody())).status).toBe(200);
  }, 15_000);
});

describe("admin API", () => {
  test("never anonymous: no credential 401, a non-admin 403, a wrong key 401; an admin-group token and the admin key are let in", async () => {
    expect((await admin(a.url, "budgets", null)).status).toBe(401);
    expect((await admin(a.url, "budgets", "not-the-admin-key-0123456789abcdef0123")).status).toBe(401);
    const developer = await person("dev");
    const forbidden = await admin(a.url, "budgets", developer);
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { type: string } }).error.type).toBe("permission_error");
    const adminToken = await person("ada", { "cognito:groups": ["developers", ADMIN_GROUP] });
    expect((await admin(b.url, "budgets", adminToken)).status).toBe(200);
    expect((await admin(b.url, "limits", ADMIN_KEY)).status).toBe(200);
    // and never under /anthropic/
    expect((await fetch(`${a.url}/anthropic/_gateway/admin/v1/budgets`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(404);
    expect((await admin(a.url, "budgets", ADMIN_KEY, { method: "PUT", body: JSON.stringify({ user: "x", period: "week", usd: 1 }) })).status).toBe(400);
  });
});

describe("restarts", () => {
  test("a replica killed with SIGKILL and restarted: nothing recorded is lost, revocations still hold", async () => {
    const before = (await report()).reduce((n, r) => n + Number(r.requests), 0);
    const token = await person("erin");
    expect((await post(a.url, token, messageBody())).status).toBe(200);
    await within(1000, async () => (await report()).reduce((n, r) => n + Number(r.requests), 0) === before + 1);
    await admin(a.url, "revocations", ADMIN_KEY, { method: "POST", body: JSON.stringify({ user: "sub-erin", kind: "sub" }) });
    await a.stop("SIGKILL");
    a = await start();
    expect((await report()).reduce((n, r) => n + Number(r.requests), 0)).toBe(before + 1);
    expect((await post(a.url, token, messageBody())).status).toBe(401);
  }, 20_000);
});
