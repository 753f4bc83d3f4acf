/**
 * The console's place in the gateway's dispatch (an in-process proxy, real in-memory SQLite
 * state): a tenant with `console` answers under /_gateway/console/ before any bearer check, 503
 * while its IdP has not described itself (logged once, retried in the background); a tenant
 * without it answers 404 there, as for any unknown gateway path. (The console over a real IdP is
 * test/e2e/console-gateway.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startForge, type Forge } from "../../../test/support/forge.ts";
import { tenantConfig } from "../../../test/support/gateway.ts";
import { asset } from "../console/assets.ts";
import type { LogLine } from "../telemetry/log.ts";
import { isConsolePath } from "./console.ts";
import { type RunningProxy, startProxy } from "./server.ts";

let forge: Forge;
const lines: LogLine[] = [];
const ASSETS = { index: asset("index.html", new TextEncoder().encode("<!doctype html>")), files: new Map() };

function proxyFor(withConsole: boolean): RunningProxy {
  const tenant = tenantConfig({ issuer: forge.issuer, jwksUri: forge.jwksUri, upstream: "http://127.0.0.1:9" }, "acme", {
    adminGroups: ["gateway-admins"],
    // the forge's discovery document names no authorization endpoint: the console cannot start
    ...(withConsole ? { console: { clientId: "console-client", redirectUri: "http://127.0.0.1:1/_gateway/console/callback" } } : {}),
  });
  return startProxy({ config: { tenants: new Map(), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 100 }, port: 0, hostname: "127.0.0.1", log: (line) => lines.push(line), state: "sqlite::memory:", consoleAssets: ASSETS });
}

beforeAll(async () => {
  forge = await startForge();
});
afterAll(() => forge?.stop());

test("isConsolePath: the console's paths only", () => {
  expect(["/_gateway/console", "/_gateway/console/", "/_gateway/console/api/session"].every(isConsolePath)).toBe(true);
  expect(["/_gateway/consoles", "/_gateway/console-x/", "/_gateway/admin/v1/usage"].some(isConsolePath)).toBe(false);
});

describe("a tenant with console, its IdP not describing itself", () => {
  let proxy: RunningProxy;
  beforeAll(() => {
    proxy = proxyFor(true);
  });
  afterAll(() => proxy?.shutdown(100));

  test("503 with retry-after, before any bearer check (no credential needed to hear it); logged as route console", async () => {
    expect(await proxy.consoleReady(300)).toBe(false);
    for (const path of ["/_gateway/console/", "/_gateway/console/api/session"]) {
      const r = await fetch(`${proxy.url}${path}`);
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBe("5");
      expect(await r.text()).toContain("identity provider");
    }
    expect(lines.filter((l) => l.route === "console").map((l) => l.status)).toEqual([503, 503]);
  });

  test("the gateway's other endpoints are unaffected", async () => {
    expect((await fetch(`${proxy.url}/_gateway/admin/v1/usage`)).status).toBe(401);
  });
});

test("a tenant without console: /_gateway/console/ is 404 like any unknown gateway path", async () => {
  const proxy = proxyFor(false);
  try {
    expect(await proxy.consoleReady(10)).toBe(true);
    expect((await fetch(`${proxy.url}/_gateway/console/`)).status).toBe(404);
  } finally {
    await proxy.shutdown(100);
  }
});
