/** Parsers of untrusted or user input: arguments, discovery documents, proxy config, hosts, paths. */
import { describe, expect, test } from "bun:test";
import { parseArgs, parseDuration } from "../../src/cli/args.ts";
import { CliError } from "../../src/cli/errors.ts";
import { buildTenantDiscovery, discoveryUrlFor, parseTenantDiscovery } from "../../src/shared/tenant-discovery.ts";
import { parseTenant, resolveUpstreamKey, tenantForHost, type ProxyConfig } from "../../src/proxy/config.ts";
import { upstreamPath } from "../../src/proxy/http/routes.ts";
import { extractToken, VerifiedTokenCache, TokenRejected } from "../../src/proxy/auth/verify.ts";
import { platformOpenCommand } from "../../src/cli/browser.ts";
import { keychainError } from "../../src/cli/store/keychain.ts";
import { COMMANDS } from "../../src/cli/commands/registry.ts";

describe("arguments", () => {
  const specs = COMMANDS.find((c) => c.name === "login")!.options;
  test("values, lists, flags, --x=y and positionals", () => {
    const parsed = parseArgs(["https://t.example", "--profile=work", "--redirect-uri", "a", "--redirect-uri", "b", "--no-browser"], specs, "login");
    expect(parsed).toEqual({ flags: { "no-browser": true }, values: { profile: "work" }, lists: { "redirect-uri": ["a", "b"] }, positionals: ["https://t.example"] });
  });
  test("errors are usage errors (exit 2) naming the problem", () => {
    for (const [argv, message] of [
      [["--nope"], "unknown option --nope"],
      [["--profile"], "needs a value"],
      [["--profile", "--store"], "needs a value"],
      [["--no-browser=yes"], "takes no value"],
      [["-x"], "unknown option -x"],
    ] as const) {
      const error = (() => {
        try {
          parseArgs([...argv], specs, "login");
        } catch (e) {
          return e as CliError;
        }
      })();
      expect(error?.exitCode).toBe(2);
      expect(error?.message).toContain(message);
    }
  });
  test("durations", () => {
    expect(parseDuration("t", "300")).toBe(300_000);
    expect(parseDuration("t", "5m")).toBe(300_000);
    expect(parseDuration("t", "1.5h")).toBe(5_400_000);
    expect(parseDuration("t", "250ms")).toBe(250);
    expect(() => parseDuration("t", "-5m")).toThrow("--t must be a duration");
    expect(() => parseDuration("t", "5 minutes")).toThrow();
  });
});

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

describe("proxy configuration and routing", () => {
  test("the upstream key comes from exactly one source", () => {
    expect(resolveUpstreamKey({ upstreamApiKeyEnv: "K" }, "t", { K: "sk-1" })).toBe("sk-1");
    expect(() => resolveUpstreamKey({}, "t", {})).toThrow("set exactly one of");
    expect(() => resolveUpstreamKey({ upstreamApiKey: "a", upstreamApiKeyEnv: "K" }, "t", {})).toThrow("exactly one");
    expect(() => resolveUpstreamKey({ upstreamApiKeyEnv: "MISSING" }, "t", {})).toThrow("MISSING (upstream key) is not set");
    expect(() => resolveUpstreamKey({ upstreamApiKeyFile: "/nonexistent/key" }, "t", {})).toThrow("cannot read the upstream key file");
  });
  test("a tenant's defaults follow Cognito", () => {
    const t = parseTenant("acme", { issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/", clientIds: ["c1"], upstreamApiKey: "k" });
    expect(t.jwksUri).toBe("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/jwks.json");
    expect(t.upstream).toBe("https://api.anthropic.com");
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

describe("platform details", () => {
  test("the browser opener per platform passes the URL as one argument", () => {
    const url = "https://idp/authorize?a=1&b=2";
    expect(platformOpenCommand(url, "darwin", false)).toEqual(["open", [url]]);
    expect(platformOpenCommand(url, "linux", false)).toEqual(["xdg-open", [url]]);
    expect(platformOpenCommand(url, "linux", true)).toEqual(["rundll32.exe", ["url.dll,FileProtocolHandler", url]]);
    expect(platformOpenCommand(url, "win32", false)).toEqual(["rundll32", ["url.dll,FileProtocolHandler", url]]);
  });
  test("keyring errors become store errors with a fix, never 'invalid token'", () => {
    if (process.platform !== "linux") return;
    const cases: [string, string][] = [
      ["DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead", "no D-Bus session bus"],
      ["Couldn't access platform storage: Secret Service: no result found", "keyring is locked"],
      ["Platform failure: the unlock prompt was dismissed", "keyring is locked"],
      ["DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired", "did not answer"],
      ["org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files", "no Secret Service provider"],
    ];
    for (const [raw, expected] of cases) {
      const e = keychainError("read the access token", new Error(raw), 10_000);
      expect(e.exitCode).toBe(4);
      expect(e.message).toContain(expected);
      expect(e.hint).toContain("--store pass or --store file");
    }
    expect(keychainError("read", Object.assign(new Error("x"), { name: "TimeoutError" }), 10_000).message).toContain("did not answer within 10 s");
  });
});
