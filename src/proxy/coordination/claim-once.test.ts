import { expect, test } from "bun:test";
import { MemoryClaims } from "./claim-once.ts";

test("the first claimant holds the key until it expires; it may ask again, others may not", async () => {
  let now = 1_000;
  const claims = new MemoryClaims(() => now);
  expect(await claims.claimOnce("k", "a", 100)).toBe(true);
  expect(await claims.claimOnce("k", "b", 100)).toBe(false);
  expect(await claims.claimOnce("k", "a", 100)).toBe(true);
  expect(await claims.claimOnce("other", "b", 100)).toBe(true);
  now += 100;
  expect(await claims.claimOnce("k", "b", 100)).toBe(true);
  expect(await claims.claimOnce("k", "a", 100)).toBe(false);
});

test("concurrent claims of one key: exactly one wins", async () => {
  const claims = new MemoryClaims();
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claims.claimOnce("k", `c${i}`, 1000)));
  expect(results.filter(Boolean)).toHaveLength(1);
});
