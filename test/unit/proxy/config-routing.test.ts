import { describe, expect, test } from "bun:test";
import { parseTenant, tenantForHost, type ProxyConfig } from "../../../src/proxy/config.ts";
import { upstreamPath } from "../../../src/proxy/http/routes.ts";
import { extractToken, VerifiedTokenCache, TokenRejected } from "../../../src/proxy/auth/verify.ts";

describe("proxy configuration and routing", () => {
  test("the upstream key comes from exactly one source; the shorthand is a pool of one, and never beside upstreams", () => {
    const base = { issuer: "https://i", clientIds: ["c"] };
    expect(parseTenant("t", { ...base, upstreamApiKeyEnv: "K" }).pool.upstreams[0]).toMatchObject({ name: "anthropic", key: { kind: "env", name: "K" } });
    expect(() => parseTenant("t", base)).toThrow("set exactly one of");
    expect(() => parseTenant("t", { ...base, upstreamApiKey: "a", upstreamApiKeyEnv: "K" })).toThrow("exactly one");
    expect(() => parseTenant("t", { ...base, upstreamApiKey: "a", upstreams: [{ name: "b", type: "anthropic", apiKeyEnv: "B" }] })).toThrow('set either "upstreams" or "upstreamApiKey", not both');
    expect(() => parseTenant("t", { ...base, upstreams: [{ name: "b", type: "anthropic", apiKeyfile: "/k" }] })).toThrow('unknown field "apiKeyfile"');
    const pool = parseTenant("t", { ...base, upstreams: [{ name: "a", type: "anthropic", apiKeyFile: "/run/k" }, { name: "br", type: "bedrock", region: "us-east-1" }], routing: { strategy: "weighted" } }).pool;
    expect(pool.upstreams.map((u) => u.name)).toEqual(["a", "br"]);
    expect(pool.routing.strategy).toBe("weighted");
  });
  test("a tenant's defaults follow Cognito", () => {
    const t = parseTenant("acme", { issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/", clientIds: ["c1"], upstreamApiKey: "k" });
    expect(t.jwksUri).toBe("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/jwks.json");
    expect(t.pool.upstreams[0]).toMatchObject({ type: "anthropic", url: "https://api.anthropic.com" });
    expect(t.cli.client_id).toBe("c1");
  });
  test("the Host header's first label picks the tenant", () => {
    const acme = parseTenant("acme", { issuer: "https://i", clientIds: ["c"], upstreamApiKey: "k" });
    const config: ProxyConfig = { domain: "proxy.example.com", tenants: new Map([["acme", acme]]), trustForwardedHeaders: false, shutdownGraceMs: 1 };
    expect(tenantForHost(config, "acme.proxy.example.com")).toBe(acme);
    expect(tenantForHost(config, "ACME.proxy.example.com:443")).toBe(acme);
    expect(tenantForHost(config, "acme.proxy.evil.com")).toBeUndefined();
    expect(tenantForHost(config, "other.proxy.example.com")).toBeUndefined();
    expect(tenantForHost(config, "proxy.example.com")).toBeUndefined();
    expect(tenantForHost(config, null)).toBeUndefined();
  });
  test("Claude Code's concatenated paths reach the right upstream path", () => {
    expect(upstreamPath("/anthropic/v1/v1/messages")).toBe("/v1/messages");
    expect(upstreamPath("/anthropic/v1/messages")).toBe("/v1/messages");
    expect(upstreamPath("/anthropic/v1/v1/messages/count_tokens")).toBe("/v1/messages/count_tokens");
    expect(upstreamPath("/anthropic/v1/v1/models")).toBe("/v1/models");
    expect(upstreamPath("/anthropic")).toBe("/");
  });
  test("credentials: Bearer first, then x-api-key; empty values are no credentials", () => {
    expect(extractToken(new Headers({ authorization: "Bearer a.b.c", "x-api-key": "d.e.f" }))).toBe("a.b.c");
    expect(extractToken(new Headers({ authorization: "bearer   a.b.c " }))).toBe("a.b.c");
    expect(extractToken(new Headers({ authorization: "Basic xyz", "x-api-key": "d.e.f" }))).toBe("d.e.f");
    expect(extractToken(new Headers({ authorization: "Bearer ", "x-api-key": "" }))).toBeNull();
  });
});

describe("verified-token cache", () => {
  test("a hit past expiry (plus skew) is rejected and dropped; clear() forgets everything", () => {
    let now = 1_000_000;
    const cache = new VerifiedTokenCache(2, () => now);
    const user = { sub: "s", username: "u", clientId: "c", groups: [], exp: 1100 };
    cache.set("t1", user);
    expect(cache.get("t1")).toBe(user);
    now = (1100 + 61) * 1000;
    expect(() => cache.get("t1")).toThrow(TokenRejected);
    expect(cache.get("t1")).toBeUndefined();
    cache.set("a", user);
    cache.set("b", user);
    cache.set("c", user);
    expect(cache.size).toBe(2);
    expect(cache.get("a")).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
  });
});
