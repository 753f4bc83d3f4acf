import { describe, expect, test } from "bun:test";
import { decodeAccess, decodeRefresh, isFresh, jwtClaims, requiredValidityMs } from "./records.ts";

describe("freshness", () => {
  test("the requested validity applies, capped just under the token's lifetime", () => {
    const hour = 3_600_000;
    expect(requiredValidityMs(5 * 60_000, hour)).toBe(5 * 60_000);
    // Claude Code TTL 55 min + 2 min margin fits under a 1 h token (cap 59 min)
    expect(requiredValidityMs(57 * 60_000, hour)).toBe(57 * 60_000);
    // a TTL longer than the token lives is capped, so a fresh token still qualifies
    expect(requiredValidityMs(2 * hour, hour)).toBe(hour - 60_000);
    // short-lived tokens: the cap is 80 % of the lifetime
    expect(requiredValidityMs(5 * 60_000, 10_000)).toBe(8_000);
  });

  test("a freshly issued token always qualifies; one past the window does not", () => {
    const fresh = { token: "t", expiresAt: 1000 + 3_600_000, lifetimeMs: 3_600_000 };
    expect(isFresh(fresh, 1000, 10 * 3_600_000)).toBe(true);
    expect(isFresh(fresh, 1000 + 3_600_000 - 4 * 60_000, 5 * 60_000)).toBe(false);
    expect(isFresh(fresh, 1000 + 3_600_000 - 6 * 60_000, 5 * 60_000)).toBe(true);
  });
});

describe("damaged entries read as absent, never crash", () => {
  for (const raw of ["", "{", "null", "[]", '{"token":1}', '{"token":"x"}', "\u0000\uffff"]) {
    test(JSON.stringify(raw), () => {
      expect(decodeAccess(raw)).toBeNull();
      expect(decodeRefresh(raw)).toBeNull();
    });
  }
  test("jwtClaims tolerates garbage", () => {
    expect(jwtClaims("a.b.c")).toBeNull();
    expect(jwtClaims(undefined)).toBeNull();
    expect(jwtClaims(`x.${Buffer.from('{"sub":"s"}').toString("base64url")}.y`)).toEqual({ sub: "s" });
  });
});
