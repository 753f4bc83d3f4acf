import { describe, expect, test } from "bun:test";
import { ConfigError, parseTenant } from "../../../src/proxy/config.ts";
import { buildTenantDiscovery, parseTenantDiscovery } from "../../../src/shared/tenant-discovery.ts";

const base = { issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X", clientIds: ["c1"], upstreamApiKey: "k" };

describe("the config file's cli section: what the tenant discovery document announces", () => {
  test("logout_uris, identity_provider and idp_identifier are kept and reach the discovery document, which the CLI accepts", () => {
    const cli = { logout_uris: ["http://localhost:53682/logged-out", "http://127.0.0.1:53683/logged-out"], identity_provider: "AcmeOkta", idp_identifier: "acme.example" };
    const t = parseTenant("acme", { ...base, cli });
    expect(t.cli).toMatchObject(cli);
    const doc = buildTenantDiscovery("https://acme.gateway.example", t.issuer, t.cli);
    expect(parseTenantDiscovery(JSON.parse(JSON.stringify(doc)), "https://acme.gateway.example").agent_runner_auth).toMatchObject(cli);
  });

  test("absent, they stay absent", () => {
    const t = parseTenant("acme", base);
    expect(Object.keys(t.cli).sort()).toEqual(["client_id", "redirect_uris", "scopes"]);
  });

  test("a non-loopback or port-less logout URI, a non-array, a control character or an over-long name is a ConfigError naming the field", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ logout_uris: ["https://evil.example/out"] }, "tenants.acme.cli.logout_uris[0]"],
      [{ logout_uris: ["http://localhost/out"] }, "tenants.acme.cli.logout_uris[0]"],
      [{ logout_uris: "http://localhost:1/out" }, "tenants.acme.cli.logout_uris"],
      [{ identity_provider: "Okta\u001b[2J" }, "tenants.acme.cli.identity_provider"],
      [{ identity_provider: "" }, "tenants.acme.cli.identity_provider"],
      [{ idp_identifier: "x".repeat(129) }, "tenants.acme.cli.idp_identifier"],
      [{ idp_identifier: 42 }, "tenants.acme.cli.idp_identifier"],
    ];
    for (const [cli, field] of bad) {
      const error = (() => {
        try {
          parseTenant("acme", { ...base, cli });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(field);
    }
  });
});
