import { expect, test } from "bun:test";
import { IdpUnavailableError } from "../../errors.ts";
import { accessRecord, fakeContext, NOW, refreshRecord } from "../fake-context.ts";
import { run } from "./logout.ts";

test("logout revokes the refresh token at the IdP, then deletes every entry, under the lock", async () => {
  const revoked: string[] = [];
  const fake = fakeContext({ oauth: { revokeRefreshToken: async (_p, token) => void revoked.push(token) } });
  fake.stores.file.values.set("access", accessRecord("a", NOW + 60_000));
  fake.stores.file.values.set("refresh", refreshRecord("the-refresh"));
  expect(await run(fake.ctx, { store: undefined })).toBe(0);
  expect(revoked).toEqual(["the-refresh"]);
  expect(fake.stores.file.values.size).toBe(0);
  expect(fake.locks).toBe(1);
  expect(fake.stderr).toEqual(['Logged out of https://acme.proxy.example.com (profile "default").']);
});

test("offline: the tokens are deleted anyway, with a warning", async () => {
  const fake = fakeContext({ oauth: { revokeRefreshToken: async () => Promise.reject(new IdpUnavailableError("cannot reach the identity provider at idp.example.com")) } });
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
