/**
 * The gateway's directory revalidation (src/proxy/directory) against the real local tenant's
 * userInfo (issue 18 §2): after a refresh-token revocation, a global sign-out and a disable at
 * the IdP, the next check of each affected session reports it revoked (reason issuer), and no
 * other session. Here the revocations are collected from the callback; the gateway's wiring
 * (denylist, both replicas refusing) is test/e2e/gateway-offboarding.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { decodeJwt } from "jose";
import { createServer, type AddressInfo } from "node:net";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { authorizeUrl, CookieJarBrowser, exchangeCode, revoke, type Tokens } from "../support/idp-session-client.ts";
import { Revalidator, type Revocation } from "../../src/proxy/directory/revalidator.ts";
import type { SessionSighting } from "../../src/proxy/directory/sessions.ts";

let tenant: TenantProcess;
const PASSWORDS: Record<string, string> = { demo: "demo-password-1", carol: "carol-password-1", dave: "dave-password-1", frank: "frank-password-1" };

beforeAll(async () => {
  tenant = await startTenant(Object.entries(PASSWORDS).flatMap(([name, password]) => ["--user", `${name}:${password}:developers`]));
});
afterAll(async () => {
  await tenant?.stop();
});

async function signIn(username: string): Promise<Tokens> {
  const browser = new CookieJarBrowser();
  const auth = authorizeUrl(tenant.issuer, tenant.client_id, `http://localhost:${tenant.redirectPorts[0]}/callback`);
  const landed = await browser.submit(await browser.get(auth.url), { username, password: PASSWORDS[username]! });
  return exchangeCode(tenant.issuer, tenant.client_id, auth, landed.url);
}

function sightingOf(tokens: Tokens): SessionSighting {
  const claims = decodeJwt(tokens.accessToken);
  return { tenant: "acme", issuer: tenant.issuer, sub: String(claims.sub), sessionId: String(claims.origin_jti), accessToken: tokens.accessToken, expiresAt: Number(claims.exp) * 1000, displayName: String(claims.username) };
}

test("disable, global sign-out and refresh-token revocation at the IdP: each affected session is revoked at its next check, no other", async () => {
  // a clock that moves only when the test says (a loaded machine must not make a check due early)
  const base = Date.now();
  let offset = 0;
  const revoked: Revocation[] = [];
  const results: string[] = [];
  const discovery = (await (await fetch(`${tenant.issuer}/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string };
  const r = new Revalidator({
    fetch: (url, init) => fetch(url, init),
    userInfoEndpoint: async () => discovery.userinfo_endpoint,
    revoke: async (x) => void revoked.push(x),
    log: () => {},
    checks: { inc: ({ result }) => void results.push(result) },
    now: () => base + offset,
    intervalMs: 2_000,
  });
  const sessions = { demoRevoked: await signIn("demo"), demoKept: await signIn("demo"), carol: await signIn("carol"), dave: await signIn("dave"), frank: await signIn("frank") };
  for (const tokens of Object.values(sessions)) r.seen(sightingOf(tokens));
  await r.settled();
  expect(results).toEqual(["ok", "ok", "ok", "ok", "ok"]);

  expect(await revoke(tenant.issuer, tenant.client_id, sessions.demoRevoked.refreshToken)).toBe(200);
  expect(await tenant.userAction("carol", "global-sign-out")).toBe(204);
  expect(await tenant.userAction("dave", "disable")).toBe(204);

  // within the interval nothing is asked again
  r.sweep();
  await r.settled();
  expect(results).toHaveLength(5);

  offset += 2_000;
  r.sweep();
  await r.settled();
  const bySession = Object.fromEntries(revoked.map((x) => [x.sessionId, x]));
  const idOf = (t: Tokens) => String(t.access.origin_jti);
  expect(Object.keys(bySession).sort()).toEqual([idOf(sessions.demoRevoked), idOf(sessions.carol), idOf(sessions.dave)].sort());
  expect(bySession[idOf(sessions.dave)]).toMatchObject({ reason: "issuer", sub: String(sessions.dave.access.sub), displayName: "dave", detail: "401: User is disabled" });
  expect(bySession[idOf(sessions.carol)]!.detail).toBe("401: Access token has been revoked");
  expect(results.slice(5).sort()).toEqual(["ok", "ok", "revoked", "revoked", "revoked"]);
  expect(await tenant.userAction("dave", "enable")).toBe(204);
});

test("the issuer's connection dropped: the check fails, nothing is revoked", async () => {
  const revoked: Revocation[] = [];
  const results: string[] = [];
  // an issuer that accepts and hangs up at once
  const dropper = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => dropper.listen(0, "127.0.0.1", resolve));
  const port = (dropper.address() as AddressInfo).port;
  const r = new Revalidator({
    fetch: (url, init) => fetch(url, init),
    userInfoEndpoint: async () => `http://127.0.0.1:${port}/oauth2/userInfo`,
    revoke: async (x) => void revoked.push(x),
    log: () => {},
    checks: { inc: ({ result }) => void results.push(result) },
    now: Date.now,
    timeoutMs: 2_000,
  });
  r.seen(sightingOf(await signIn("frank")));
  await r.settled();
  dropper.close();
  expect(results).toEqual(["error"]);
  expect(revoked).toEqual([]);
});
