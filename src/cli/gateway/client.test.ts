import { afterAll, describe, expect, test } from "bun:test";
import { inspect } from "node:util";
import { ExitCode } from "../errors.ts";
import { boundedFetch, type Bounds } from "../oauth/bounded-fetch.ts";
import { AdminKey } from "./admin-key.ts";
import { createGatewayClient, endpointsFromDiscovery, gatewayUrls, type GatewayHttp } from "./client.ts";
import { GatewayError } from "./errors.ts";

const TENANT = "https://acme.proxy.example.com";
const KEY = new AdminKey("adminkey-0123456789abcdef0123456789abcdef");

interface Sent {
  url: string;
  init: RequestInit;
  bounds: Bounds;
}

/** A fake transport: records what was sent, answers with `reply`. */
function fake(reply: (s: Sent) => Response | Promise<Response>): { http: GatewayHttp; sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    http: async (url, init, bounds) => {
      const s = { url, init, bounds };
      sent.push(s);
      return reply(s);
    },
  };
}

const json = (value: unknown, status = 200, headers: Record<string, string> = {}) => new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json", ...headers } });
const apiError = (status: number, type: string, message: string, headers: Record<string, string> = {}) => json({ type: "error", error: { type, message }, request_id: "req_1" }, status, headers);
const figures = { requests: 2, input_tokens: 10, output_tokens: 20, cache_creation_input_tokens: 30, cache_read_input_tokens: 40, cost_usd: 0.5 };
const ME = { user: "alice@example.com", sub: "s-1", groups: ["developers"], today: { day: "2026-11-29", ...figures }, month: { month: "2026-11", ...figures }, budgets: [] };
const header = (s: Sent, name: string) => (s.init.headers as Record<string, string>)[name];

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(GatewayError);
  return e as GatewayError;
}

describe("urls", () => {
  test("default paths under the tenant; announced endpoints only on the tenant's origin", () => {
    expect(gatewayUrls(TENANT).logout).toBe(`${TENANT}/_gateway/v1/logout`);
    expect(gatewayUrls(`${TENANT}/`).usage).toBe(`${TENANT}/_gateway/v1/me/usage`);
    expect(gatewayUrls(TENANT, { logout: `${TENANT}/custom/logout` }).logout).toBe(`${TENANT}/custom/logout`);
    // a document naming another host does not get the token
    expect(gatewayUrls(TENANT, { logout: "https://evil.example.net/_gateway/v1/logout", usage: "https://evil.example.net/u" })).toMatchObject({ logout: `${TENANT}/_gateway/v1/logout`, usage: `${TENANT}/_gateway/v1/me/usage` });
  });

  test("endpointsFromDiscovery reads logout_endpoint and usage_endpoint", () => {
    expect(endpointsFromDiscovery({ agent_runner_auth: { logout_endpoint: "https://a/l", usage_endpoint: "https://a/u" } })).toEqual({ logout: "https://a/l", usage: "https://a/u" });
    expect(endpointsFromDiscovery({ agent_runner_auth: { client_id: "x" } })).toEqual({});
    expect(endpointsFromDiscovery(null)).toEqual({});
  });
});

describe("self-service", () => {
  test("logoutSession: POST with the bearer, bounded, no redirects followed", async () => {
    const f = fake(() => json({ revoked: "session", until: "2026-11-29T08:31:02.000Z" }));
    const answer = await createGatewayClient({ tenantUrl: TENANT, http: f.http, timeoutMs: 1234 }).logoutSession("tok.en.x");
    expect(answer).toEqual({ revoked: "session", until: "2026-11-29T08:31:02.000Z" });
    const s = f.sent[0]!;
    expect(s.url).toBe(`${TENANT}/_gateway/v1/logout`);
    expect(s.init.method).toBe("POST");
    expect(s.init.redirect).toBe("manual");
    expect(header(s, "authorization")).toBe("Bearer tok.en.x");
    expect(s.bounds).toEqual({ maxBytes: 256 * 1024, timeoutMs: 1234 });
  });

  test("myUsage parses the document; optional figures default to 0", async () => {
    const f = fake(() => json(ME));
    const u = await createGatewayClient({ tenantUrl: TENANT, http: f.http }).myUsage("t");
    expect(u.today.cache_read_input_tokens).toBe(40);
    expect(u.today.unpriced_requests).toBe(0);
    expect(f.sent[0]!.init.method).toBe("GET");
  });

  test("a document of another shape is bad_response (exit 3), naming the member", async () => {
    const f = fake(() => json({ ...ME, today: { day: "x", requests: "many" } }));
    const e = await failure(createGatewayClient({ tenantUrl: TENANT, http: f.http }).myUsage("t"));
    expect(e.code).toBe("bad_response");
    expect(e.exitCode).toBe(ExitCode.idpUnavailable);
    expect(e.message).toContain("usage.today.requests");
  });

  test("plain http off loopback: endpoint_policy (exit 5) and nothing is sent", async () => {
    const f = fake(() => json({}));
    const e = await failure(Promise.resolve().then(() => createGatewayClient({ tenantUrl: "http://acme.proxy.example.com", http: f.http }).logoutSession("t")));
    expect(e.code).toBe("endpoint_policy");
    expect(e.exitCode).toBe(ExitCode.config);
    expect(f.sent).toHaveLength(0);
  });

  test("http to loopback is allowed (the local tenant)", async () => {
    const f = fake(() => json(ME));
    await createGatewayClient({ tenantUrl: "http://127.0.0.1:8080", http: f.http }).myUsage("t");
    expect(f.sent[0]!.url).toBe("http://127.0.0.1:8080/_gateway/v1/me/usage");
  });

  test("401 with a token: run login (exit 1), the gateway's words sanitised", async () => {
    const f = fake(() => apiError(401, "authentication_error", "this access token was revoked\u001b[2J: sign in again"));
    const e = await failure(createGatewayClient({ tenantUrl: TENANT, http: f.http, loginCommand: "agent-runner-auth login --profile work" }).myUsage("t"));
    expect(e.code).toBe("unauthenticated");
    expect(e.exitCode).toBe(ExitCode.authRequired);
    expect(e.hint).toContain("agent-runner-auth login --profile work");
    expect(e.message).toContain("revoked\\x1b[2J");
    expect(e.message).not.toContain("\u001b");
  });

  test("a redirect is not followed", async () => {
    const f = fake(() => new Response(null, { status: 302, headers: { location: "https://elsewhere.example.net/" } }));
    const e = await failure(createGatewayClient({ tenantUrl: TENANT, http: f.http }).myUsage("t"));
    expect(e.code).toBe("bad_response");
    expect(e.status).toBe(302);
    expect(f.sent).toHaveLength(1);
  });

  test("network failure and deadline: unreachable / timeout, exit 3", async () => {
    const refused = fake(() => {
      throw Object.assign(new TypeError("Unable to connect. Is the computer able to access the url?"), { code: "ConnectionRefused" });
    });
    const e1 = await failure(createGatewayClient({ tenantUrl: TENANT, http: refused.http }).myUsage("t"));
    expect([e1.code, e1.exitCode]).toEqual(["unreachable", ExitCode.idpUnavailable]);
    const slow = fake(() => {
      throw Object.assign(new Error("The operation timed out."), { name: "TimeoutError" });
    });
    const e2 = await failure(createGatewayClient({ tenantUrl: TENANT, http: slow.http, timeoutMs: 2000 }).myUsage("t"));
    expect([e2.code, e2.exitCode]).toEqual(["timeout", ExitCode.idpUnavailable]);
    expect(e2.message).toContain("2 s");
  });

  test("503 with retry-after: unavailable, the wait in the hint", async () => {
    const f = fake(() => apiError(503, "overloaded_error", "the gateway's state store is unreachable", { "retry-after": "2" }));
    const e = await failure(createGatewayClient({ tenantUrl: TENANT, http: f.http }).myUsage("t"));
    expect(e.code).toBe("unavailable");
    expect(e.retryAfterSeconds).toBe(2);
    expect(e.hint).toContain("2 s");
  });
});

describe("real bounded-fetch transport", () => {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () => new Response(new ReadableStream({ start: (c) => { c.enqueue(new Uint8Array(1024 * 1024).fill(32)); c.close(); } }), { headers: { "content-type": "application/json" } }),
  });
  afterAll(() => server.stop(true));

  test("a 1 MiB answer to me/usage is refused as response_too_large", async () => {
    const e = await failure(createGatewayClient({ tenantUrl: `http://127.0.0.1:${server.port}`, http: boundedFetch }).myUsage("t"));
    expect(e.code).toBe("response_too_large");
    expect(e.exitCode).toBe(ExitCode.idpUnavailable);
  });
});

describe("admin API", () => {
  const admin = (f: { http: GatewayHttp }, credential: Parameters<ReturnType<typeof createGatewayClient>["admin"]>[0] = { kind: "admin_key", key: KEY }) => createGatewayClient({ tenantUrl: TENANT, http: f.http }).admin(credential);

  test("usage as JSON: query built, rows keyed by the dimension", async () => {
    const f = fake(() => json([{ model: "claude-sonnet-4-5", ...figures }]));
    const report = await admin(f).usage({ since: "2026-11-01", until: "2026-11-29", by: "model", format: "json" });
    expect(report).toMatchObject({ format: "json", by: "model", rows: [{ key: "claude-sonnet-4-5", requests: 2 }] });
    const url = new URL(f.sent[0]!.url);
    expect(url.pathname).toBe("/_gateway/admin/v1/usage");
    expect(Object.fromEntries(url.searchParams)).toEqual({ since: "2026-11-01", until: "2026-11-29", by: "model", format: "json" });
    expect(header(f.sent[0]!, "authorization")).toBe(`Bearer ${KEY.reveal()}`);
    expect(f.sent[0]!.bounds.maxBytes).toBe(32 * 1024 * 1024);
  });

  test("usage as CSV: passed through; a non-CSV answer is refused", async () => {
    const csv = "user,sub,requests\r\nalice,s-1,2\r\n";
    const ok = fake(() => new Response(csv, { headers: { "content-type": "text/csv; charset=utf-8" } }));
    expect(await admin(ok).usage({ format: "csv" })).toEqual({ format: "csv", by: "user", csv });
    expect(header(ok.sent[0]!, "accept")).toBe("text/csv");
    const html = fake(() => new Response("<html>", { headers: { "content-type": "text/html" } }));
    expect((await failure(admin(html).usage({ format: "csv" }))).code).toBe("bad_response");
  });

  test("the person's own token is asked for at call time", async () => {
    let asked = 0;
    const f = fake(() => json([]));
    await admin(f, { kind: "token", accessToken: async () => `token-${++asked}` }).listBudgets();
    expect(header(f.sent[0]!, "authorization")).toBe("Bearer token-1");
  });

  test("budgets, limits and revocations: the documented methods, bodies and queries", async () => {
    const f = fake((s) => {
      if (s.init.method === "DELETE" && s.url.includes("revocations")) return json({ restored: true, kind: "email", value: "bob@example.com" });
      if (s.init.method === "DELETE") return json({ cleared: 1 });
      if (s.url.endsWith("budgets")) return json({ group: "developers", period: "month", unit: "usd", limit: 100, soft: true });
      if (s.url.endsWith("limits")) return json({ user: "bob", rpm: 10 });
      return json({ kind: "email", value: "bob@example.com", at: "2026-11-29T00:00:00.000Z", until: "2026-11-29T01:01:00.000Z", by: "admin-key", reason: "left" });
    });
    const a = admin(f);
    expect(await a.setBudget({ subject: { group: "developers" }, period: "month", usd: 100, soft: true })).toMatchObject({ subject: { group: "developers" }, limit: 100, soft: true });
    expect(await a.clearBudget({ subject: { tenant: true }, period: "day", unit: "tokens" })).toEqual({ cleared: 1 });
    expect(await a.setLimit({ subject: { user: "bob" }, rpm: 10 })).toEqual({ subject: { user: "bob" }, rpm: 10 });
    expect(await a.clearLimit({ user: "bob" })).toEqual({ cleared: 1 });
    expect((await a.revoke({ user: "bob@example.com", reason: "left" })).kind).toBe("email");
    expect((await a.restore({ user: "bob@example.com" })).restored).toBe(true);
    const [setB, clearB, setL, clearL, revoke, restore] = f.sent;
    expect([setB!.init.method, JSON.parse(String(setB!.init.body))]).toEqual(["PUT", { group: "developers", period: "month", usd: 100, soft: true }]);
    expect(header(setB!, "content-type")).toBe("application/json");
    expect(clearB!.url).toBe(`${TENANT}/_gateway/admin/v1/budgets?tenant=1&period=day&unit=tokens`);
    expect(JSON.parse(String(setL!.init.body))).toEqual({ user: "bob", rpm: 10 });
    expect(clearL!.url).toBe(`${TENANT}/_gateway/admin/v1/limits?user=bob`);
    expect([revoke!.init.method, JSON.parse(String(revoke!.init.body))]).toEqual(["POST", { user: "bob@example.com", reason: "left" }]);
    expect([restore!.init.method, restore!.url]).toEqual(["DELETE", `${TENANT}/_gateway/admin/v1/revocations?user=bob%40example.com`]);
  });

  test("403: not in the admin group, the group named (from the gateway's message)", async () => {
    const f = fake(() => apiError(403, "permission_error", "the admin API is for members of one of the admin groups (gateway-admins)"));
    const e = await failure(admin(f, { kind: "token", accessToken: async () => "t" }).usage({ format: "json" }));
    expect(e.code).toBe("not_admin");
    expect(e.exitCode).toBe(ExitCode.authRequired);
    expect(e.message).toContain("gateway-admins");
    expect(e.hint).toContain("--admin-key-file");
  });

  test("404: the tenant's gateway has no admin API (older proxy), exit 3", async () => {
    const f = fake(() => apiError(404, "not_found_error", "not found: the tenant proxy forwards only ..."));
    const e = await failure(admin(f).listLimits());
    expect(e.code).toBe("no_gateway_api");
    expect(e.exitCode).toBe(ExitCode.idpUnavailable);
    expect(e.message).toContain("no admin API");
  });

  test("401 with the admin key: check the key file; the key itself is in no message", async () => {
    const f = fake(() => apiError(401, "authentication_error", "the admin API needs an admin's access token or the admin key"));
    const e = await failure(admin(f).listRevocations());
    expect(e.code).toBe("unauthenticated");
    expect(e.hint).toContain("--admin-key-file");
    expect(`${e.message} ${e.hint} ${JSON.stringify(e)} ${inspect(e)}`).not.toContain(KEY.reveal());
  });

  test("400: rejected_input with the gateway's reason (exit 2)", async () => {
    const f = fake(() => apiError(400, "invalid_request_error", "since and until are days, YYYY-MM-DD"));
    const e = await failure(admin(f).usage({ since: "x", format: "json" }));
    expect([e.code, e.exitCode]).toEqual(["rejected_input", ExitCode.usage]);
    expect(e.message).toContain("YYYY-MM-DD");
  });
});
