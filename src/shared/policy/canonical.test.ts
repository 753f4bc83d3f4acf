import { expect, test } from "bun:test";
import { canonicalJson, policyHash, shortHash } from "./canonical.ts";
import type { Policy } from "./types.ts";

const BASE: Policy = { groups: { a: { models: ["x-*"], budgets: [{ period: "day", usd: 5 }] }, b: { limits: { rpm: 3 } } }, default: { models: [] } };

test("canonical JSON sorts keys at every level and keeps array order", () => {
  expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }, "x"] })).toBe('{"a":[{"c":2,"d":1},"x"],"b":1}');
});

test("the hash ignores key order, descriptions, $schema, version and written-out defaults", () => {
  const same: Policy = {
    $schema: "./policy.schema.json",
    version: 1,
    default: { models: [], description: "no access" },
    groups: { b: { limits: { rpm: 3, pool: false } }, a: { description: "team a", budgets: [{ usd: 5, period: "day", soft: false, pool: false, description: "x" }], models: ["x-*"] } },
  };
  expect(policyHash(same)).toBe(policyHash(BASE));
  expect(policyHash({ ...BASE, groups: { ...BASE.groups, c: { budgets: [] } } })).toBe(policyHash({ ...BASE, groups: { ...BASE.groups, c: {} } }));
  expect(policyHash({ groups: {} })).toBe(policyHash({}));
});

test("the hash changes with anything enforced", () => {
  const hashes = new Set(
    [
      BASE,
      { ...BASE, default: {} }, // no models (every model) differs from none
      { ...BASE, groups: { ...BASE.groups, a: { models: ["x-*", "y"] } } },
      { ...BASE, groups: { ...BASE.groups, a: { models: ["x-*"], budgets: [{ period: "day" as const, usd: 5, soft: true }] } } },
      { ...BASE, groups: { ...BASE.groups, a: { models: ["x-*"], budgets: [{ period: "day" as const, usd: 5, pool: true }] } } },
      { ...BASE, groups: { ...BASE.groups, a: { models: ["x-*"], budgets: [{ period: "day" as const, tokens: 5 }] } } },
      { ...BASE, groups: { ...BASE.groups, b: { limits: { rpm: 3, pool: true } } } },
      { ...BASE, groups: { A: BASE.groups!.a!, b: BASE.groups!.b! } }, // group names are case-sensitive
    ].map(policyHash),
  );
  expect(hashes.size).toBe(8);
});

test("hex sha256; the short form for people", () => {
  const hash = policyHash(BASE);
  expect(hash).toMatch(/^[0-9a-f]{64}$/);
  expect(shortHash(hash)).toBe(`sha256:${hash.slice(0, 12)}`);
});
