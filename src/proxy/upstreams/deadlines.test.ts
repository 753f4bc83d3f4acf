import { describe, expect, test } from "bun:test";
import { Deadlines, type Waiting } from "./deadlines.ts";

function waiting(at: number, client = new AbortController()) {
  const expired: string[] = [];
  const w: Waiting & { expired: string[] } = { at, client, expired, expire: (reason) => void expired.push(reason) };
  return { w, client };
}

describe("Deadlines", () => {
  test("expires at the first tick past the deadline, once; a removed attempt never; the timer stops with nothing pending", async () => {
    let now = 0;
    const deadlines = new Deadlines(() => now, 5);
    const late = waiting(10);
    const done = waiting(10);
    const later = waiting(1_000);
    for (const x of [late, done, later]) deadlines.add(x.w);
    deadlines.remove(done.w);
    now = 20;
    await Bun.sleep(30);
    expect(late.w.expired).toEqual(["timeout"]);
    expect(done.w.expired).toEqual([]);
    expect(later.w.expired).toEqual([]);
    deadlines.remove(later.w);
    await Bun.sleep(30);
    expect(later.w.expired).toEqual([]);
    expect(late.w.expired).toEqual(["timeout"]);
    // stopped itself: a new attempt starts it again
    const next = waiting(25);
    now = 30;
    deadlines.add(next.w);
    await Bun.sleep(30);
    expect(next.w.expired).toEqual(["timeout"]);
    deadlines.stop();
  });

  test("a client that went away is expired as cancelled before its deadline", async () => {
    const deadlines = new Deadlines(() => 0, 5);
    const gone = waiting(60_000);
    const stays = waiting(60_000);
    deadlines.add(gone.w);
    deadlines.add(stays.w);
    gone.client.abort();
    await Bun.sleep(30);
    expect(gone.w.expired).toEqual(["cancelled"]);
    expect(stays.w.expired).toEqual([]);
    deadlines.stop();
  });

  test("settled attempts at the front are let go at the next add; one still waiting keeps its place, and the tick compacts behind it", async () => {
    let now = 0;
    const deadlines = new Deadlines(() => now, 5);
    const first = waiting(10);
    const second = waiting(10);
    deadlines.add(first.w);
    deadlines.add(second.w);
    deadlines.remove(first.w);
    deadlines.remove(second.w);
    expect(deadlines.held).toBe(2);
    const slow = waiting(10);
    deadlines.add(slow.w);
    expect(deadlines.held).toBe(1); // both settled ones let go, before any tick
    const quick = waiting(10);
    deadlines.add(quick.w);
    deadlines.remove(quick.w);
    deadlines.add(waiting(1_000).w);
    expect(deadlines.held).toBe(3); // behind the slow one: kept until the tick
    await Bun.sleep(20);
    expect(deadlines.held).toBe(2); // the tick dropped the settled one
    now = 20;
    await Bun.sleep(20);
    expect(slow.w.expired).toEqual(["timeout"]);
    expect(quick.w.expired).toEqual([]);
    expect(deadlines.held).toBe(1);
    deadlines.stop();
  });

  test("a deadline is set from the last tick's clock plus one tick (no clock read per attempt), from a fresh read when the timer is idle", async () => {
    let now = 100;
    let reads = 0;
    const deadlines = new Deadlines(() => (reads++, now), 5);
    expect(deadlines.deadlineIn(50)).toBe(150); // idle: read now
    deadlines.add(waiting(150).w);
    now = 103; // within the tick
    const before = reads;
    expect(deadlines.deadlineIn(50)).toBe(155); // never before 103 + 50
    expect(reads).toBe(before); // not read
    await Bun.sleep(15); // a tick reads the clock
    expect(deadlines.deadlineIn(50)).toBe(158);
    deadlines.stop();
  });
});
