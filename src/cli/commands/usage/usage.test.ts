import { expect, test } from "bun:test";
import { ExitCode, exitCodeOf } from "../../errors.ts";
import type { GatewayHttp } from "../../gateway/client.ts";
import { accessRecord, fakeContext, NOW, PROFILE, memoryGatewayPort } from "../../../../test/support/fake-context.ts";
import { run } from "./usage.ts";

const FIGURES = { requests: 3, input_tokens: 30, output_tokens: 60, cache_creation_input_tokens: 100, cache_read_input_tokens: 9000, cost_usd: 0.14 };
const ME = {
  user: "demo",
  sub: "s-1",
  groups: ["developers"],
  today: { day: "2025-01-01", ...FIGURES },
  month: { month: "2025-01", ...FIGURES, cost_usd: 3.2 },
  budgets: [{ user: "demo", period: "day", unit: "usd", soft: false, limit: 5, used: 0.14, remaining: 4.86, resets_at: "2025-01-02T00:00:00.000Z" }],
};

function counting(answer: () => Response): { http: GatewayHttp; calls: string[] } {
  const calls: string[] = [];
  return { calls, http: async (url, init) => (calls.push(`${url} ${(init.headers as Record<string, string>).authorization}`), answer()) };
}

test("usage --json: the gateway's document for the person, with their own token", async () => {
  const g = counting(() => Response.json(ME));
  const fake = fakeContext({ gateway: memoryGatewayPort({ http: g.http }) });
  fake.stores.file.values.set("access", accessRecord("own", NOW + 30 * 60_000));
  expect(await run(fake.ctx, { output: "json", store: undefined })).toBe(0);
  expect(g.calls).toEqual(["https://acme.proxy.example.com/_gateway/v1/me/usage Bearer own"]);
  expect(JSON.parse(fake.stdout.join(""))).toMatchObject({ user: "demo", today: { cache_read_input_tokens: 9000 }, budgets: [{ remaining: 4.86 }] });
});

test("usage: today, this month and the budget left, for a person", async () => {
  const fake = fakeContext({ gateway: memoryGatewayPort({ http: counting(() => Response.json(ME)).http }) });
  fake.stores.file.values.set("access", accessRecord("own", NOW + 30 * 60_000));
  expect(await run(fake.ctx, { output: "view", store: undefined })).toBe(0);
  const text = fake.stdout.join("");
  expect(text).toContain("today 2025-01-01");
  expect(text).toContain("9,000");
  expect(text).toContain("your daily budget: $4.86 left of $5.00");
});

test("usage without a session: exit 1, nothing sent", async () => {
  const g = counting(() => Response.json(ME));
  const fake = fakeContext({ gateway: memoryGatewayPort({ http: g.http }) });
  expect(exitCodeOf(await run(fake.ctx, { output: "view", store: undefined }).catch((x: unknown) => x))).toBe(ExitCode.authRequired);
  expect(g.calls).toEqual([]);
});

test("--status-line: one line; the second call is served from the cache without the store or the network", async () => {
  const g = counting(() => Response.json(ME));
  const port = memoryGatewayPort({ http: g.http });
  const fake = fakeContext({ gateway: port });
  fake.stores.file.values.set("access", accessRecord("own", NOW + 30 * 60_000));
  expect(await run(fake.ctx, { output: "status-line", store: undefined })).toBe(0);
  expect(fake.stdout).toEqual(["$0.1400 today · $3.20 this month · $4.86 of $5.00 left today"]);
  fake.ctx.openStore = async () => {
    throw new Error("the cached path must not open the store");
  };
  expect(await run(fake.ctx, { output: "status-line", store: undefined })).toBe(0);
  expect(fake.stdout[1]).toBe(fake.stdout[0]);
  expect(g.calls).toHaveLength(1);
  expect(port.cache.has("default")).toBe(true);
});

test("--status-line never fails and never signs in: no session, no profile, a broken store, a dead gateway", async () => {
  const noSession = fakeContext({ blocker: null });
  expect(await run(noSession.ctx, { output: "status-line", store: undefined })).toBe(0);
  expect(noSession.stdout).toEqual(["gateway: not signed in (agent-runner-auth login)"]);
  expect(noSession.calls).toEqual([]); // no browser sign-in although one would be possible here

  const noProfile = fakeContext({ profile: null });
  expect(await run(noProfile.ctx, { output: "status-line", store: undefined })).toBe(0);
  expect(noProfile.stdout[0]).toStartWith("gateway: no tenant");

  const brokenStore = fakeContext();
  brokenStore.ctx.openStore = async () => {
    throw new Error("no D-Bus");
  };
  expect(await run(brokenStore.ctx, { output: "status-line", store: undefined })).toBe(0);
  expect(brokenStore.stdout).toEqual(["gateway: usage unavailable"]);

  const dead = fakeContext({ gateway: memoryGatewayPort({ http: async () => Promise.reject(new Error("ECONNREFUSED")) }) });
  dead.stores.file.values.set("access", accessRecord("own", NOW + 30 * 60_000));
  expect(await run(dead.ctx, { output: "status-line", store: undefined })).toBe(0);
  expect(dead.stdout).toEqual(["gateway: usage unavailable"]);
});

test("a profile made with --issuer: usage exits 5; the status line says so and exits 0", async () => {
  const { tenant: _, ...noTenant } = PROFILE;
  const fake = fakeContext({ profile: noTenant });
  expect(exitCodeOf(await run(fake.ctx, { output: "view", store: undefined }).catch((x: unknown) => x))).toBe(ExitCode.config);
  expect(await run(fake.ctx, { output: "status-line", store: undefined })).toBe(0);
});
