/** SqliteState's own shortcuts (the shared behaviour is in state.contract.test.ts). */
import { expect, test } from "bun:test";
import { SqliteState } from "./sqlite.ts";

test("in memory, the policy version is kept in the process (no query per request) and still changes with every settings change", async () => {
  const state = new SqliteState(":memory:");
  const seen = [await state.policyVersion("acme")];
  expect(await state.policyVersion("acme")).toBe(seen[0] as string);
  await state.setBudget({ tenant: "acme", subject: { kind: "tenant", id: "*" }, period: "month", unit: "usd", limit: 1_000_000, soft: false });
  seen.push(await state.policyVersion("acme"));
  await state.setLimit({ tenant: "acme", subject: { kind: "user", id: "alice" }, rpm: 5 });
  seen.push(await state.policyVersion("acme"));
  await state.clearLimit("acme", { kind: "user", id: "alice" });
  seen.push(await state.policyVersion("acme"));
  await state.clearBudget("acme", { kind: "tenant", id: "*" }, "month");
  seen.push(await state.policyVersion("acme"));
  expect(new Set(seen).size).toBe(5);
  expect(await state.policyVersion("other")).toBe("0"); // per tenant
  await state.close();
});
