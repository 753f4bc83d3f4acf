/** startProxy's listeners: one that cannot bind leaves nothing running behind it. */
import { expect, test } from "bun:test";
import { randomPort } from "../../../test/support/ports.ts";
import { tenantConfig } from "../../../test/support/gateway.ts";
import { startProxy } from "./server.ts";

test("a metrics port already taken: the start fails and the main listener, bound just before, is let go", async () => {
  const squatter = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("not the gateway's metrics") });
  const main = randomPort();
  try {
    const tenant = tenantConfig({ issuer: "http://127.0.0.1:9/pool", jwksUri: "http://127.0.0.1:9/jwks", upstream: "http://127.0.0.1:9" }, "acme");
    const start = () => startProxy({ config: { tenants: new Map(), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 100 }, port: main, hostname: "127.0.0.1", log: () => {}, state: "sqlite::memory:", metrics: { port: squatter.port as number } });
    expect(start).toThrow();
    // the main port is free again: another server binds it at once
    const after = Bun.serve({ port: main, hostname: "127.0.0.1", fetch: () => new Response("ok") });
    expect(await (await fetch(`http://127.0.0.1:${main}/`)).text()).toBe("ok");
    after.stop(true);
    expect(await (await fetch(`http://127.0.0.1:${squatter.port}/`)).text()).toBe("not the gateway's metrics");
  } finally {
    squatter.stop(true);
  }
});
