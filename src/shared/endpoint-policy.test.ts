import { describe, expect, test } from "bun:test";
import { checkEndpointUrl, checkProfileUrls, checkRedirectUri, checkTenantUrl, EndpointPolicyError, isLoopbackHost } from "./endpoint-policy.ts";

const refused = (f: () => unknown, text: string) => {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(EndpointPolicyError);
  expect((error as Error).message).toContain(text);
};

describe("endpoints", () => {
  test("https anywhere, plain http only to this machine", () => {
    for (const ok of ["https://idp.example.com/oauth2/token", "http://127.0.0.1:8080/x", "http://127.9.8.7/x", "http://localhost:1/x", "http://[::1]:1/x", "http://127.1/x", "http://LOCALHOST/x"]) {
      expect(checkEndpointUrl("e", ok).href).toBeTruthy();
    }
    for (const bad of ["http://idp.example.com/token", "http://0.0.0.0:80/", "http://192.168.1.1/", "http://localhost.evil.com/", "http://[::ffff:127.0.0.1]/", "http://128.0.0.1/"]) {
      refused(() => checkEndpointUrl("the token endpoint", bad), "the token endpoint must use https://");
    }
  });
  test("other schemes, credentials and fragments are refused", () => {
    for (const [bad, text] of [
      ["javascript:alert(1)", 'scheme "javascript:"'],
      ["file:///etc/passwd", 'scheme "file:"'],
      ["data:text/html,x", 'scheme "data:"'],
      ["ftp://idp.example.com/", 'scheme "ftp:"'],
      ["https://user:pw@idp.example.com/", "user name or password"],
      ["https://idp.example.com/#x", "fragment"],
      ["not a url", "is not a URL"],
      ["", "must be a URL"],
    ] as const) {
      refused(() => checkEndpointUrl("e", bad), text);
    }
    refused(() => checkEndpointUrl("e", 42), 'must be a URL, got "42"');
  });
  test("a tenant URL carries no query", () => {
    expect(checkTenantUrl("t", "https://acme.proxy.example.com").host).toBe("acme.proxy.example.com");
    refused(() => checkTenantUrl("t", "https://acme.proxy.example.com/?next=x"), "query");
  });
  test("a hostile value is quoted short", () => {
    refused(() => checkEndpointUrl("e", "javascript:" + "a".repeat(10_000)), "...");
  });
  test("loopback hosts", () => {
    expect(isLoopbackHost("127.0.0.1")).toBe(true);
    expect(isLoopbackHost("[::1]")).toBe(true);
    expect(isLoopbackHost("localhost")).toBe(true);
    expect(isLoopbackHost("0.0.0.0")).toBe(false);
    expect(isLoopbackHost("localhost.")).toBe(false);
  });
});

describe("redirect URIs", () => {
  test("only http://localhost|127.0.0.1|[::1] with an explicit port", () => {
    for (const ok of ["http://localhost:53682/callback", "http://127.0.0.1:1/", "http://[::1]:65535/cb", "http://localhost:80/cb"]) expect(checkRedirectUri("r", ok).protocol).toBe("http:");
    for (const [bad, text] of [
      ["http://0.0.0.0:1/cb", "not a loopback address"],
      ["http://127.0.0.2:1/cb", "not a loopback address"],
      ["https://localhost:1/cb", "not a loopback address"],
      ["https://evil.example.com/cb", "not a loopback address"],
      ["http://localhost/cb", "explicit port"],
      ["http://[::1]/cb", "explicit port"],
      ["http://localhost:0/cb", "explicit port"],
      ["http://evil@localhost:1/cb", "user name or password"],
      ["http://localhost:1/cb#x", "query or fragment"],
      ["http://localhost:1/cb?x=1", "query or fragment"],
      ["javascript:alert(1)", "not a loopback address"],
    ] as const) {
      refused(() => checkRedirectUri("r", bad), text);
    }
  });
});

test("a profile: every URL checked, the first bad one named", () => {
  const profile = {
    tenant: "https://acme.proxy.example.com",
    issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x",
    redirectUris: ["http://localhost:53682/callback"],
    endpoints: { authorization: "https://auth.example.com/oauth2/authorize", token: "https://auth.example.com/oauth2/token", revocation: "https://auth.example.com/oauth2/revoke" },
  };
  expect(() => checkProfileUrls(profile)).not.toThrow();
  refused(() => checkProfileUrls({ ...profile, tenant: "http://acme.proxy.example.com" }), "the tenant URL must use https://");
  refused(() => checkProfileUrls({ ...profile, endpoints: { ...profile.endpoints, revocation: "file:///x" } }), "the revocation endpoint");
  refused(() => checkProfileUrls({ ...profile, redirectUris: ["http://0.0.0.0:1/cb"] }), "the redirect URI is not a loopback address");
  refused(() => checkProfileUrls({ ...profile, redirectUris: [] }), "is empty");
});
