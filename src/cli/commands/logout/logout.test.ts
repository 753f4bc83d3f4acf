import { expect, test } from "bun:test";
import { IdpUnavailableError } from "../../errors.ts";
import { accessRecord, fakeContext, NOW, refreshRecord, memoryGatewayPort } from "../../../../test/support/fake-context.ts";
import { run } from "./logout.ts";
import type { GatewayHttp } from "../../gateway/client.ts";

/** A gateway that records the bearer of each request and answers the logout endpoint. */
function gatewayRecording(seen: string[], events: string[]): GatewayHttp {
  return async (url, init) => {
    seen.push(`${init.method} ${url} ${(init.headers as Record<string, string>).authorization}`);
    events.push("gateway");
    return Response.json({ revoked: "origin-jti-1", until: "2025-01-01T13:00:00.000Z" });
  };
}

test("logout ends the session at the gateway with the stored access token, then revokes the refresh token at the IdP, then deletes every entry, under the lock", async () => {
  const revoked: string[] = [];
  const seen: string[] = [];
  const events: string[] = [];
  const fake = fakeContext({
    oauth: { revokeRefreshToken: async (_p, token) => void (revoked.push(token), events.push("idp")) },
    gateway: memoryGatewayPort({ http: gatewayRecording(seen, events) }),
  });
  fake.stores.file.values.set("access", accessRecord("a", NOW + 60_000));
  fake.stores.file.values.set("refresh", refreshRecord("the-refresh"));
  expect(await run(fake.ctx, { store: undefined })).toBe(0);
  expect(revoked).toEqual(["the-refresh"]);
  expect(fake.stores.file.values.size).toBe(0);
  expect(fake.locks).toBe(1);
  expect(seen).toEqual(["POST https://acme.proxy.example.com/_gateway/v1/logout Bearer a"]);
  expect(events).toEqual(["gateway", "idp"]);
  expect(fake.stderr).toEqual([
    "agent-runner-auth: the session was ended at the gateway: its access tokens are refused from now on (denylisted until 2025-01-01T13:00:00.000Z)",
    'Logged out of https://acme.proxy.example.com (profile "default").',
  ]);
});

test("a gateway that fails (an older proxy, 404): a warning that says how long a copy works, and the local logout completes", async () => {
  const fake = fakeContext({
    oauth: { revokeRefreshToken: async () => {} },
    gateway: memoryGatewayPort({ http: async () => new Response("not found", { status: 404 }) }),
  });
  const exp = Math.floor((NOW + 30 * 60_000) / 1000);
  const jwt = `h.${Buffer.from(JSON.stringify({ exp })).toString("base64url")}.s`;
  fake.stores.file.values.set("access", accessRecord(jwt, NOW + 30 * 60_000));
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  expect(await run(fake.ctx, { store: undefined })).toBe(0);
  expect(fake.stores.file.values.size).toBe(0);
  expect(fake.stderr[0]).toStartWith("agent-runner-auth: warning: could not end the session at the gateway (");
  expect(fake.stderr[0]).toContain(`keeps working until ${new Date(exp * 1000).toISOString()}`);
  expect(fake.stderr.at(-1)).toBe('Logged out of https://acme.proxy.example.com (profile "default").');
});

test("a profile made with --issuer has no gateway: nothing is sent to one", async () => {
  const { tenant: _, ...noTenant } = (await import("../../../../test/support/fake-context.ts")).PROFILE;
  const fake = fakeContext({ profile: noTenant, oauth: { revokeRefreshToken: async () => {} } });
  fake.stores.file.values.set("access", accessRecord("a", NOW + 60_000));
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  expect(await run(fake.ctx, { store: undefined })).toBe(0);
  expect(fake.stderr).toEqual(['Logged out of https://idp.example.com/pool (profile "default").']);
});

test("offline: the tokens are deleted anyway, with a warning", async () => {
  const fake = fakeContext({ oauth: { revokeRefreshToken: async () => Promise.reject(new IdpUnavailableError("cannot reach the identity provider at idp.example.com")) } });
  // no access token stored: nothing to present to the gateway
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  expect(await run(fake.ctx, { store: undefined })).toBe(0);
  expect(fake.stores.file.values.size).toBe(0);
  expect(fake.stderr[0]).toContain("warning: could not revoke the session at the identity provider (cannot reach the identity provider at idp.example.com)");
});

test("no session: nothing to revoke, nothing sent", async () => {
  const fake = fakeContext();
  expect(await run(fake.ctx, { store: undefined })).toBe(0);
  expect(fake.calls).toEqual([]);
  expect(fake.stderr).toEqual(['No session stored for profile "default"; nothing to revoke.']);
});
