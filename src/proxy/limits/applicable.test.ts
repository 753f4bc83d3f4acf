import { describe, expect, test } from "bun:test";
import { applicable, PolicyCache, type PolicySnapshot } from "./applicable.ts";
import type { Budget } from "../model/budgets.ts";
import type { Person } from "../model/person.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import { StateUnavailable } from "../state/types.ts";

const NOW = Date.parse("2026-11-10T10:00:00Z");
const ann: Person = { tenant: "t", sub: "sub-ann", username: "ann", email: "Ann@Example.com", displayName: "Ann@Example.com", groups: ["eng"] };
const budget = (subject: Budget["subject"], soft = false): Budget => ({ tenant: "t", subject, period: "day", unit: "usd", limit: 1, soft });
const none: PolicySnapshot = { budgets: [], limits: [] };

describe("applicable", () => {
  test("nothing configured: no admit, no reserve", () => {
    expect(applicable(ann, none, {}, NOW)).toEqual({ admit: false, tokensPerMinute: false, reserve: false });
  });
  test("someone else's budget or limit, or another group's: still nothing", () => {
    const policy = { budgets: [budget({ kind: "user", id: "bob" }), budget({ kind: "group", id: "ops" })], limits: [{ tenant: "t", subject: { kind: "group", id: "ops" }, rpm: 1 } as RateLimit] };
    expect(applicable(ann, policy, {}, NOW)).toEqual({ admit: false, tokensPerMinute: false, reserve: false });
  });
  test("her budget by email, her group's, the tenant's, or a soft one: reserve", () => {
    for (const b of [budget({ kind: "user", id: "ann@example.com" }), budget({ kind: "group", id: "eng" }), budget({ kind: "tenant", id: "*" }), budget({ kind: "user", id: "sub-ann" }, true)]) {
      expect(applicable(ann, { budgets: [b], limits: [] }, {}, NOW).reserve).toBe(true);
    }
  });
  test("a stored limit, or a configured default per person or tenant: admit; tpm only when a window counts tokens", () => {
    expect(applicable(ann, { budgets: [], limits: [{ tenant: "t", subject: { kind: "user", id: "ann" }, rpm: 3 }] }, {}, NOW)).toEqual({ admit: true, tokensPerMinute: false, reserve: false });
    expect(applicable(ann, none, { perPerson: { tpm: 100 } }, NOW)).toEqual({ admit: true, tokensPerMinute: true, reserve: false });
    expect(applicable(ann, none, { perTenant: { rpm: 100 } }, NOW).admit).toBe(true);
  });
  test("settings unknown (store down under fail-open): everything runs, the state wrapper decides", () => {
    expect(applicable(ann, undefined, {}, NOW)).toEqual({ admit: true, tokensPerMinute: true, reserve: true });
  });
});

describe("PolicyCache", () => {
  function fakeStore() {
    const s = { version: "1", budgets: [] as Budget[], loads: 0, down: false };
    return {
      s,
      policyVersion: async () => s.version,
      listBudgets: async () => {
        s.loads++;
        if (s.down) throw new StateUnavailable("down");
        return s.budgets;
      },
      listLimits: async () => [] as RateLimit[],
    };
  }
  test("loads once per version: a change made anywhere shows on the next request", async () => {
    const store = fakeStore();
    const cache = new PolicyCache(store);
    await Promise.all([cache.get("t"), cache.get("t"), cache.get("t")]);
    expect(store.s.loads).toBe(1);
    store.s.budgets = [budget({ kind: "user", id: "ann" })];
    expect((await cache.get("t"))?.budgets).toEqual([]); // same version: the copy
    store.s.version = "2";
    expect((await cache.get("t"))?.budgets).toHaveLength(1);
    expect(store.s.loads).toBe(2);
  });
  test("settings that cannot be read give undefined and are tried again next time", async () => {
    const store = fakeStore();
    store.s.down = true;
    const cache = new PolicyCache(store);
    expect(await cache.get("t")).toBeUndefined();
    store.s.down = false;
    expect(await cache.get("t")).toEqual({ budgets: [], limits: [] });
  });
  test("a store that cannot give the version throws (fail-closed answers 503)", async () => {
    const cache = new PolicyCache({ ...fakeStore(), policyVersion: async () => Promise.reject(new StateUnavailable("down")) });
    expect(await cache.get("t").catch((e) => e)).toBeInstanceOf(StateUnavailable);
  });
});
