import { expect, test } from "bun:test";
import type { TokenIdentity } from "../model/person.ts";
import type { Revocation } from "../model/revocations.ts";
import { DenylistCheck } from "./denylist.ts";

test("answers are kept for the TTL only, per identity; forget() drops them", async () => {
  let now = 1_000_000;
  let revoked: Revocation | null = null;
  let reads = 0;
  const check = new DenylistCheck({ isRevoked: async () => (reads++, revoked) }, 1000, () => now);
  const alice: TokenIdentity = { sub: "a", origin_jti: "s1" };
  expect(await check.revoked("t", alice)).toBeNull();
  revoked = { tenant: "t", kind: "sub", value: "a", until: now + 3600_000, at: now };
  now += 999;
  expect(await check.revoked("t", alice)).toBeNull(); // cached
  expect(await check.revoked("t", { sub: "b" })).not.toBeNull(); // another identity reads the store
  now += 1;
  expect((await check.revoked("t", alice))?.kind).toBe("sub");
  revoked = null;
  check.forget();
  expect(await check.revoked("t", alice)).toBeNull();
  expect(reads).toBe(4);
});

test("kept(): the answer of the last TTL without a store read, undefined when there is none", async () => {
  let now = 1_000_000;
  let reads = 0;
  const revocation: Revocation = { tenant: "t", kind: "sub", value: "a", until: now + 3600_000, at: now };
  const check = new DenylistCheck({ isRevoked: async () => (reads++, revocation) }, 1000, () => now);
  const alice: TokenIdentity = { sub: "a" };
  expect(check.kept("t", alice)).toBeUndefined();
  await check.revoked("t", alice);
  expect(check.kept("t", alice)).toEqual(revocation);
  expect(check.kept("t", { sub: "a" })).toEqual(revocation); // another object, the same identity
  expect(check.kept("other", alice)).toBeUndefined(); // another tenant
  now += 1000;
  expect(check.kept("t", alice)).toBeUndefined();
  check.forget();
  expect(check.kept("t", alice)).toBeUndefined();
  expect(reads).toBe(1);
});
