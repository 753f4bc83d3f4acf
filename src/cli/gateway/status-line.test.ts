import { describe, expect, test } from "bun:test";
import { GatewayError } from "./errors.ts";
import type { MyUsage } from "../../shared/gateway-api.ts";
import { statusLineText, type StatusLineDeps } from "./status-line.ts";

const F = { requests: 1, input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 0, cache_creation_5m_input_tokens: 0, cache_creation_1h_input_tokens: 0, cache_read_input_tokens: 0, web_search_requests: 0, cost_usd: 0.25, unpriced_requests: 0 };
const usage = (cost: number): MyUsage => ({ user: "a", sub: "s", groups: [], today: { day: "2026-11-29", ...F, cost_usd: cost }, month: { month: "2026-11", ...F, cost_usd: 2 }, budgets: [] });
const TENANT = "https://acme.proxy.example.com";
const T0 = Date.parse("2026-11-29T10:00:00Z");

/** A fake clock, a cache file in memory, and a gateway answering from a queue. */
function harness(answers: (MyUsage | Error)[]) {
  let now = T0;
  let file: string | null = null;
  let fetches = 0;
  const deps: StatusLineDeps = {
    now: () => now,
    tenantUrl: TENANT,
    cache: { read: async () => file, write: async (t) => void (file = t) },
    fetchUsage: async () => {
      fetches++;
      const next = answers.shift();
      if (!next) throw new Error("no more answers");
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return { deps, advance: (ms: number) => void (now += ms), fetches: () => fetches, file: () => file, setFile: (t: string | null) => void (file = t) };
}

describe("status line cache", () => {
  test("a cached answer with budgets is read back (their subjects round-trip through the file)", async () => {
    const withBudget: MyUsage = { ...usage(0.5), budgets: [{ subject: { user: "a" }, period: "day", unit: "usd", soft: false, limit: 5, used: 0.5, remaining: 4.5, resets_at: "2026-11-30T00:00:00.000Z" }] };
    const h = harness([withBudget]);
    const first = await statusLineText(h.deps);
    expect(first).toBe("$0.5000 today · $2.00 this month · $4.50 of $5.00 left today");
    expect(await statusLineText(h.deps)).toBe(first);
    expect(h.fetches()).toBe(1);
  });

  test("first render asks the gateway; renders within the TTL ask nothing", async () => {
    const h = harness([usage(0.5), usage(0.75)]);
    expect(await statusLineText(h.deps)).toBe("$0.5000 today · $2.00 this month");
    h.advance(59_000);
    expect(await statusLineText(h.deps)).toBe("$0.5000 today · $2.00 this month");
    expect(h.fetches()).toBe(1);
    h.advance(2_000);
    expect(await statusLineText(h.deps)).toBe("$0.7500 today · $2.00 this month");
    expect(h.fetches()).toBe(2);
  });

  test("concurrent renders while one refresh runs: one request, the others show the cached line", async () => {
    const h = harness([usage(0.5)]);
    await statusLineText(h.deps);
    h.advance(61_000);
    let release: (u: MyUsage) => void = () => {};
    const slow = new Promise<MyUsage>((r) => (release = r));
    const first = statusLineText({ ...h.deps, fetchUsage: () => slow });
    await Bun.sleep(1);
    // the lease is in the file: a second process renders the old figures, marked, without a request
    const second = await statusLineText(h.deps);
    expect(second).toBe("$0.5000 today · $2.00 this month (as of 10:00 UTC)");
    expect(h.fetches()).toBe(1);
    release(usage(0.9));
    expect(await first).toBe("$0.9000 today · $2.00 this month");
  });

  test("after a failure: old figures marked, no new attempt for 30 s, then one", async () => {
    const h = harness([usage(0.5), new GatewayError("unreachable", "down"), usage(0.6)]);
    await statusLineText(h.deps);
    h.advance(61_000);
    expect(await statusLineText(h.deps)).toBe("$0.5000 today · $2.00 this month (as of 10:00 UTC)");
    h.advance(20_000);
    expect(await statusLineText(h.deps)).toContain("(as of 10:00 UTC)");
    expect(h.fetches()).toBe(2);
    h.advance(11_000);
    expect(await statusLineText(h.deps)).toBe("$0.6000 today · $2.00 this month");
    expect(h.fetches()).toBe(3);
  });

  test("signed out or revoked: no stale figures, the command to sign in instead", async () => {
    const h = harness([usage(0.5), new GatewayError("unauthenticated", "401")]);
    await statusLineText(h.deps);
    h.advance(61_000);
    expect(await statusLineText({ ...h.deps, loginCommand: "agent-runner-auth login --profile work" })).toBe("gateway: not signed in (agent-runner-auth login --profile work)");
  });

  test("figures older than 30 min are not shown; an older proxy and a broken file say so", async () => {
    const h = harness([usage(0.5), new GatewayError("no_gateway_api", "404")]);
    await statusLineText(h.deps);
    h.advance(31 * 60_000);
    expect(await statusLineText(h.deps)).toBe("gateway: no usage endpoint on this tenant");
    const torn = harness([new Error("boom")]);
    torn.setFile("{not json");
    expect(await statusLineText(torn.deps)).toBe("gateway: usage unavailable");
  });

  test("a cache written for another tenant is ignored; an unwritable cache still gives a line", async () => {
    const h = harness([usage(0.5), usage(0.7)]);
    await statusLineText(h.deps);
    expect(await statusLineText({ ...h.deps, tenantUrl: "https://other.proxy.example.com" })).toBe("$0.7000 today · $2.00 this month");
    const ro = harness([usage(0.1)]);
    expect(await statusLineText({ ...ro.deps, cache: { read: async () => null, write: async () => { throw new Error("EROFS"); } } })).toBe("$0.1000 today · $2.00 this month");
  });

  test("the file holds no credential: only the usage document and times", async () => {
    const h = harness([usage(0.5)]);
    await statusLineText(h.deps);
    expect(Object.keys(JSON.parse(h.file()!)).sort()).toEqual(["fetchedAt", "tenant", "usage", "v"]);
  });
});
