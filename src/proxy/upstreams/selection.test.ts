import { expect, test } from "bun:test";
import { seededRandom } from "../../../test/support/seeded-random.ts";
import { attemptOrder } from "./selection.ts";

const members = [
  { name: "a", weight: 5 },
  { name: "b", weight: 3 },
  { name: "c", weight: 2 },
];

test("failover keeps the configured order", () => {
  expect(attemptOrder(members, "failover", () => 0.99).map((m) => m.name)).toEqual(["a", "b", "c"]);
});

test("weighted: the first pick spreads within 10 % of the weights over 1,000 requests", () => {
  for (const seed of [1, 42, 2026]) {
    const random = seededRandom(seed);
    const first = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const name = attemptOrder(members, "weighted", random)[0]!.name;
      first.set(name, (first.get(name) ?? 0) + 1);
    }
    for (const m of members) {
      const expected = (1000 * m.weight) / 10;
      expect(Math.abs((first.get(m.name) ?? 0) - expected)).toBeLessThanOrEqual(expected * 0.1);
    }
  }
});

test("weighted: every member appears once; weight 0 only after the others", () => {
  const random = seededRandom(7);
  const withStandby = [...members, { name: "standby", weight: 0 }];
  for (let i = 0; i < 200; i++) {
    const order = attemptOrder(withStandby, "weighted", random).map((m) => m.name);
    expect([...order].sort()).toEqual(["a", "b", "c", "standby"]);
    expect(order[3]).toBe("standby");
  }
});

test("weighted: the second attempt is drawn by weight among the rest", () => {
  const random = seededRandom(3);
  let bAfterA = 0;
  let aCount = 0;
  for (let i = 0; i < 2000; i++) {
    const [first, second] = attemptOrder(members, "weighted", random);
    if (first!.name === "a") {
      aCount++;
      if (second!.name === "b") bAfterA++;
    }
  }
  // after a: b 3 against c 2
  expect(Math.abs(bAfterA / aCount - 0.6)).toBeLessThan(0.06);
});

test("a random source at the top of its range still picks a member", () => {
  expect(attemptOrder(members, "weighted", () => 0.9999999999).map((m) => m.name)).toHaveLength(3);
});
