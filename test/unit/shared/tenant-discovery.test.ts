import { describe, expect, test } from "bun:test";
import { buildTenantDiscovery, discoveryUrlFor, parseTenantDiscovery } from "../../../src/shared/tenant-discovery.ts";

describe("tenant discovery document", () => {
  const client = { client_id: "c", redirect_uris: ["http://localhost:1/callback"], scopes: ["openid"] };
  test("round trip, and the RFC 9728 well-known URL", () => {
    const doc = buildTenantDiscovery("https://acme.proxy.example.com/", "https://issuer", client);
    expect(parseTenantDiscovery(JSON.parse(JSON.stringify(doc)), "https://acme.proxy.example.com")).toEqual(doc);
    expect(discoveryUrlFor("https://acme.proxy.example.com")).toBe("https://acme.proxy.example.com/.well-known/oauth-protected-resource/anthropic");
  });
  test("a document for another resource, or missing members, is refused with the member named", () => {
    const doc = buildTenantDiscovery("https://evil.example.com", "https://issuer", client);
    expect(() => parseTenantDiscovery(doc, "https://acme.proxy.example.com")).toThrow('"resource" is "https://evil.example.com/anthropic"');
    for (const [bad, member] of [
      [null, "not a JSON object"],
      [[], "not a JSON object"],
      [{ ...doc, resource: "https://acme.proxy.example.com/anthropic", authorization_servers: [] }, "authorization_servers"],
      [{ resource: "https://acme.proxy.example.com/anthropic", authorization_servers: ["x"] }, "agent_runner_auth"],
      [{ resource: "https://acme.proxy.example.com/anthropic", authorization_servers: ["x"], agent_runner_auth: { ...client, redirect_uris: [] } }, "redirect_uris"],
      [{ resource: "https://acme.proxy.example.com/anthropic", authorization_servers: ["x"], agent_runner_auth: { ...client, refresh_token_lifetime_seconds: -1 } }, "refresh_token_lifetime_seconds"],
    ] as const) {
      expect(() => parseTenantDiscovery(bad, "https://acme.proxy.example.com")).toThrow(member);
    }
  });
});
