/** The discovery document's optional sign-in defaults: logout URIs, identity provider, idp identifier. */
import { describe, expect, test } from "bun:test";
import { buildTenantDiscovery, DiscoveryFormatError, DiscoveryPolicyError, parseTenantDiscovery, type CliClientConfig } from "./tenant-discovery.ts";

const TENANT = "https://acme.example.com";
const base: CliClientConfig = { client_id: "cli", redirect_uris: ["http://localhost:53682/callback"], scopes: ["openid"] };
const parse = (extra: Record<string, unknown>) => parseTenantDiscovery(JSON.parse(JSON.stringify(buildTenantDiscovery(TENANT, "https://idp.example.com/pool", { ...base, ...extra } as CliClientConfig))), TENANT);

describe("sign-in defaults in the discovery document", () => {
  test("absent: the document parses as before", () => {
    const doc = parse({});
    expect(doc.agent_runner_auth.logout_uris).toBeUndefined();
    expect(doc.agent_runner_auth.identity_provider).toBeUndefined();
  });

  test("present: carried through", () => {
    const doc = parse({ logout_uris: ["http://localhost:53682/logged-out"], identity_provider: "ExampleCorp", idp_identifier: "example.com" });
    expect(doc.agent_runner_auth).toMatchObject({ logout_uris: ["http://localhost:53682/logged-out"], identity_provider: "ExampleCorp", idp_identifier: "example.com" });
  });

  test("a logout URI off loopback is a policy error; a non-array a format error", () => {
    expect(() => parse({ logout_uris: ["https://evil.example/logged-out"] })).toThrow(DiscoveryPolicyError);
    expect(() => parse({ logout_uris: "http://localhost:1/x" })).toThrow(DiscoveryFormatError);
  });

  test("identity provider names with control characters, empty or too long are refused", () => {
    for (const bad of ["Evil\u001b[2J", "", "x".repeat(129), 42, "a\u202eb"]) {
      expect(() => parse({ identity_provider: bad })).toThrow(/identity_provider/);
      expect(() => parse({ idp_identifier: bad })).toThrow(/idp_identifier/);
    }
  });
});
