import { describe, expect, test } from "bun:test";
import { validHost } from "./routes.ts";

describe("validHost", () => {
  test("host names, IPv4 and IPv6 with valid ports", () => {
    expect(validHost("Acme.Proxy.Example.com")).toBe("acme.proxy.example.com");
    expect(validHost("acme.proxy.example.com:443")).toBe("acme.proxy.example.com:443");
    expect(validHost("127.0.0.1:8080")).toBe("127.0.0.1:8080");
    expect(validHost("[::1]:8080")).toBe("[::1]:8080");
    expect(validHost("localhost")).toBe("localhost");
  });
  test("anything else is refused", () => {
    for (const bad of [null, "", "a:99999", "a:0", "a:abc", "a:", "a b", "a/b", "user@evil", "évil", "a:1:2", "-a.com", "a..b", "[zz]", "a.com:80/x", "x".repeat(254)]) {
      expect(validHost(bad)).toBeNull();
    }
  });
});
