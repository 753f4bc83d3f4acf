import { describe, expect, test } from "bun:test";
import type { Bounds } from "../oauth/bounded-fetch.ts";
import type { GatewayHttp } from "./client.ts";
import { describeEndSession, endSessionAtGateway, tokenExpiry } from "./logout.ts";

const NOW = Date.parse("2026-11-29T10:00:00Z");
const jwt = (exp: number) => `e30.${Buffer.from(JSON.stringify({ exp, origin_jti: "g-1" })).toString("base64url")}.sig`;
const TOKEN = jwt(NOW / 1000 + 3600);
const TENANT = "https://acme.proxy.example.com";

function fake(reply: () => Response) {
  const sent: { url: string; init: RequestInit; bounds: Bounds }[] = [];
  const http: GatewayHttp = async (url, init, bounds) => {
    sent.push({ url, init, bounds });
    return reply();
  };
  return { http, sent };
}
const deps = (http: GatewayHttp) => ({ http, now: () => NOW });

describe("ending the session at the gateway", () => {
  test("POSTs the stored token to the announced logout endpoint, within 5 s", async () => {
    const f = fake(() => Response.json({ revoked: "session", until: "2026-11-29T11:01:00.000Z" }));
    const out = await endSessionAtGateway({ tenantUrl: TENANT, endpoints: { logout: `${TENANT}/_gateway/v1/logout` }, accessToken: TOKEN }, deps(f.http));
    expect(out).toEqual({ kind: "ended", until: "2026-11-29T11:01:00.000Z" });
    expect(f.sent[0]!.url).toBe(`${TENANT}/_gateway/v1/logout`);
    expect((f.sent[0]!.init.headers as Record<string, string>).authorization).toBe(`Bearer ${TOKEN}`);
    expect(f.sent[0]!.bounds.timeoutMs).toBe(5000);
    expect(describeEndSession(out)).toContain("refused from now on");
  });

  test("an older proxy (404): a warning that says how long a copy still works, never a failure", async () => {
    const f = fake(() => Response.json({ type: "error", error: { type: "not_found_error", message: "not found" } }, { status: 404 }));
    const out = await endSessionAtGateway({ tenantUrl: TENANT, accessToken: TOKEN }, deps(f.http));
    expect(out).toMatchObject({ kind: "warning", code: "no_gateway_api", tokenExpiresAt: NOW + 3600_000 });
    expect(describeEndSession(out)).toContain("keeps working until 2026-11-29T11:00:00.000Z");
  });

  test("no network: a warning", async () => {
    const http: GatewayHttp = async () => {
      throw new TypeError("Unable to connect");
    };
    expect(await endSessionAtGateway({ tenantUrl: TENANT, accessToken: TOKEN }, deps(http))).toMatchObject({ kind: "warning", code: "unreachable" });
  });

  test("never over plain http off loopback: a warning and no request", async () => {
    const f = fake(() => Response.json({ revoked: "session", until: "x" }));
    const out = await endSessionAtGateway({ tenantUrl: "http://acme.proxy.example.com", accessToken: TOKEN }, deps(f.http));
    expect(out).toMatchObject({ kind: "warning", code: "endpoint_policy" });
    expect(f.sent).toHaveLength(0);
    // nor to an announced endpoint on plain http elsewhere: the tenant's own path is used instead
    const g = fake(() => Response.json({ revoked: "session", until: "x" }));
    await endSessionAtGateway({ tenantUrl: TENANT, endpoints: { logout: "http://evil.example.net/logout" }, accessToken: TOKEN }, deps(g.http));
    expect(g.sent.map((s) => s.url)).toEqual([`${TENANT}/_gateway/v1/logout`]);
  });

  test("401: the gateway already refuses the token, nothing to warn about", async () => {
    const f = fake(() => Response.json({ type: "error", error: { type: "authentication_error", message: "revoked" } }, { status: 401 }));
    const out = await endSessionAtGateway({ tenantUrl: TENANT, accessToken: TOKEN }, deps(f.http));
    expect(out).toEqual({ kind: "already_invalid" });
    expect(describeEndSession(out)).toBeUndefined();
  });

  test("no tenant, no token, or an expired token: skipped without a request", async () => {
    const f = fake(() => Response.json({}));
    expect(await endSessionAtGateway({ tenantUrl: undefined, accessToken: TOKEN }, deps(f.http))).toEqual({ kind: "skipped", reason: "no_tenant" });
    expect(await endSessionAtGateway({ tenantUrl: TENANT, accessToken: undefined }, deps(f.http))).toEqual({ kind: "skipped", reason: "no_token" });
    expect(await endSessionAtGateway({ tenantUrl: TENANT, accessToken: jwt(NOW / 1000 - 1) }, deps(f.http))).toEqual({ kind: "skipped", reason: "token_expired" });
    expect(f.sent).toHaveLength(0);
  });

  test("tokenExpiry tolerates anything", () => {
    expect(tokenExpiry("opaque")).toBeUndefined();
    expect(tokenExpiry("a.!!!.c")).toBeUndefined();
    expect(tokenExpiry(jwt(10))).toBe(10_000);
  });
});
