import { expect, test } from "bun:test";
import { legendValue, money } from "./format.ts";

test("money: cents from a dollar up, enough digits below, $0.00 for nothing", () => {
  expect(money(0)).toBe("$0.00");
  expect(money(1_234_567_890)).toBe("$1,234.57");
});

test("the chart legend says unpriced for a model none of whose requests had a price, and its cost otherwise", () => {
  expect(legendValue(0, true)).toBe("unpriced");
  expect(legendValue(0, false)).toBe("$0.00"); // priced and free (no tokens that day)
  expect(legendValue(2_500_000, false)).toBe("$2.50");
  expect(legendValue(2_500_000, true)).toBe("$2.50"); // a cost is a cost
});
