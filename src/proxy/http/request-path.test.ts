/**
 * The order of the metered request path, through an in-process proxy (real token verification
 * against a forge issuer, the stub upstream, in-memory SQLite state): budgets before rate limits,
 * so a budget refusal never counts toward a rate limit, and a rate-limit refusal gives its
 * reservation back before answering.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ADMIN_KEY, useGateway } from "../../../test/support/gateway.ts";
import { type RunningProxy, startProxy } from "./server.ts";

const gateway = useGateway();
let proxy: RunningProxy;

beforeAll(async () => {
  proxy = startProxy({ config: { tenants: new Map(), single: gateway.tenant(), trustForwardedHeaders: false, shutdownGraceMs: 100 }, port: 0, hostname: "127.0.0.1", log: () => {}, adminKey: ADMIN_KEY, state: "sqlite::memory:" });
  await proxy.ready();
});
afterAll(async () => {
  await proxy?.shutdown(100);
});

const adminPut = (resource: string, body: unknown) => fetch(`${proxy.url}/_gateway/admin/v1/${resource}`, { method: "PUT", headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" }, body: JSON.stringify(body) });
const ask = (token: string) =>
  fetch(`${proxy.url}/anthropic/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }) });
const usedToday = async (token: string) => ((await (await fetch(`${proxy.url}/_gateway/v1/me/usage`, { headers: { authorization: `Bearer ${token}` } })).json()) as { budgets: { used: number }[] }).budgets[0]?.used;

test("a request the rate limit refuses gives its budget reservation back; one a budget refuses is not counted by the rate limit", async () => {
  const token = await gateway.forge.sign({ sub: "sub-ray", username: "ray" });
  expect((await adminPut("budgets", { user: "ray", period: "day", usd: 1 })).status).toBe(200);
  expect((await adminPut("limits", { user: "ray", rpm: 1 })).status).toBe(200);
  const first = await ask(token);
  expect(first.status).toBe(200);
  await first.text();
  await Bun.sleep(50); // the settle is batched just after the answer
  const afterFirst = await usedToday(token);
  expect(afterFirst).toBeGreaterThan(0);
  const limited = await ask(token);
  expect(limited.status).toBe(429);
  expect(limited.headers.get("x-agent-runner-reason")).toBe("rate_limited");
  // its reservation is not left holding the budget
  expect(await usedToday(token)).toBe(afterFirst);

  // a budget that cannot fit: 403, and the rate limit's minute is not charged for it
  const other = await gateway.forge.sign({ sub: "sub-rue", username: "rue" });
  expect((await adminPut("budgets", { user: "rue", period: "day", usd: 0.000001 })).status).toBe(200);
  expect((await adminPut("limits", { user: "rue", rpm: 1 })).status).toBe(200);
  for (let i = 0; i < 3; i++) expect((await ask(other)).headers.get("x-agent-runner-reason")).toBe("budget_exhausted");
  expect((await adminPut("budgets", { user: "rue", period: "day", usd: 1 })).status).toBe(200);
  expect((await ask(other)).status).toBe(200);
});
