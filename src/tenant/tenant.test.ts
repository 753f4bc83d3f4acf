import { expect, test } from "bun:test";
import { CONSOLE_LOGIN } from "../shared/console-api.ts";
import { DEFAULT_USERS, startTenant } from "./tenant.ts";

test("a proxy port taken between its choice and the proxy's start: the tenant starts on another, its console's redirect registered with that one", async () => {
  const squatter = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("not the tenant") });
  const picks: number[] = [];
  // first the squatter's port (as if another process took it after it was found free), then a free one
  const freePort = () => {
    if (picks.length === 0) return picks[picks.push(squatter.port as number) - 1] as number;
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    picks.push(port);
    return port;
  };
  const tenant = await startTenant({ port: 0, idpPort: 0, accessTokenTtl: 3600, refreshTokenTtl: 86_400, rotateRefreshTokens: false, users: DEFAULT_USERS, freePort, log: () => {} });
  try {
    expect(picks).toHaveLength(2);
    expect(tenant.info.tenant).toBe(`http://127.0.0.1:${picks[1]}`);
    expect(tenant.info.console).toBe(`http://127.0.0.1:${picks[1]}/_gateway/console/`);
    expect((await fetch(`${tenant.info.tenant}/_gateway/console/`)).status).toBe(200);
    // the IdP knows the console's callback on the port the proxy got: its authorize page, not an error
    const login = await fetch(`${tenant.info.tenant}${CONSOLE_LOGIN}`, { redirect: "manual" });
    const authorize = new URL(login.headers.get("location") as string);
    expect(authorize.searchParams.get("redirect_uri")).toBe(`http://127.0.0.1:${picks[1]}/_gateway/console/callback`);
    expect((await fetch(authorize, { redirect: "manual" })).status).toBeLessThan(400);
    expect(await (await fetch(`http://127.0.0.1:${squatter.port}/`)).text()).toBe("not the tenant");
  } finally {
    await tenant.stop();
    squatter.stop(true);
  }
}, 30_000);
