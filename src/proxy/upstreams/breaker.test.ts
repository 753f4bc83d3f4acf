import { expect, test } from "bun:test";
import { CircuitBreaker, type CircuitState } from "./breaker.ts";

function breaker() {
  let now = 1_000_000;
  const changes: CircuitState[] = [];
  const b = new CircuitBreaker({ failures: 5, openMs: 30_000 }, () => now, (state) => changes.push(state));
  return { b, changes, advance: (ms: number) => (now += ms) };
}

test("five consecutive failures open it; a success in between starts the count again", () => {
  const { b, changes } = breaker();
  for (let i = 0; i < 4; i++) b.failure();
  b.success();
  for (let i = 0; i < 4; i++) b.failure();
  expect(b.state()).toBe("closed");
  expect(b.acquire()).toBe(true);
  b.failure();
  expect(b.state()).toBe("open");
  expect(b.available()).toBe(false);
  expect(b.acquire()).toBe(false);
  expect(changes).toEqual(["open"]);
});

test("skipped for 30 s, then exactly one probe; its success closes the circuit", () => {
  const { b, changes, advance } = breaker();
  for (let i = 0; i < 5; i++) b.failure();
  advance(29_999);
  expect(b.acquire()).toBe(false);
  expect(b.msUntilProbe()).toBe(1);
  advance(1);
  expect(b.state()).toBe("half_open");
  expect(b.available()).toBe(true);
  expect(b.acquire()).toBe(true); // the probe
  expect(b.available()).toBe(false);
  expect(b.acquire()).toBe(false); // a second request while the probe is out
  b.success();
  expect(b.state()).toBe("closed");
  expect(b.acquire()).toBe(true);
  expect(changes).toEqual(["open", "half_open", "closed"]);
});

test("a failed probe opens it for another 30 s", () => {
  const { b, changes, advance } = breaker();
  for (let i = 0; i < 5; i++) b.failure();
  advance(30_000);
  expect(b.acquire()).toBe(true);
  b.failure();
  expect(b.state()).toBe("open");
  advance(29_000);
  expect(b.acquire()).toBe(false);
  advance(1_000);
  expect(b.acquire()).toBe(true);
  expect(changes).toEqual(["open", "half_open", "open", "half_open"]);
});

test("a probe that ends without a verdict (client gone) gives the probe back", () => {
  const { b, advance } = breaker();
  for (let i = 0; i < 5; i++) b.failure();
  advance(30_000);
  expect(b.acquire()).toBe(true);
  b.release();
  expect(b.state()).toBe("half_open");
  expect(b.acquire()).toBe(true);
});

test("forced through while open: a failure keeps the original reopening time, a success closes", () => {
  const { b, advance } = breaker();
  for (let i = 0; i < 5; i++) b.failure();
  advance(10_000);
  expect(b.acquire(true)).toBe(true);
  b.failure();
  expect(b.msUntilProbe()).toBe(20_000);
  expect(b.acquire(true)).toBe(true);
  b.success();
  expect(b.state()).toBe("closed");
});
