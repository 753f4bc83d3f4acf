/** SqliteState's own shortcuts (the shared behaviour is in state.contract.test.ts). */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteState } from "./sqlite.ts";
import type { Person } from "../model/person.ts";
import type { UsageRecord } from "../model/usage.ts";

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

const dir = mkdtempSync(join(tmpdir(), "ara-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const record = (over: Partial<UsageRecord> = {}): UsageRecord => ({
  requestId: `req_${++seq}`, time: Date.parse("2026-12-04T12:00:00Z"), tenant: "acme", sub: "alice", displayName: "alice@example.com", groups: ["eng"], model: "claude-haiku-4-5",
  inputTokens: 1, outputTokens: 2, cacheCreationInputTokens: 0, cacheCreation5mInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 0, webSearchRequests: 0, costMicroUsd: 100, ...over,
});
const alice: Person = { tenant: "acme", sub: "alice", displayName: "alice@example.com", groups: ["eng"] };

for (const where of ["in memory", "in a file (writer thread)"]) {
  test(`${where}: records go in by the batch (many rows per INSERT); a batch holding records seen before (a replay) counts each record once`, async () => {
    const state = new SqliteState(where === "in memory" ? ":memory:" : join(dir, `${++seq}.db`));
    await state.setBudget({ tenant: "acme", subject: { kind: "tenant", id: "*" }, period: "day", unit: "usd", limit: 1_000_000_000, soft: false });
    const now = Date.parse("2026-12-04T13:00:00Z");
    const totals = async () => ({
      requests: (await state.usageReport({ tenant: "acme", since: "2026-12-04", until: "2026-12-04", by: "user" }))[0]?.requests,
      used: (await state.budgetStatus(alice, now))[0]?.used,
    });
    const first = Array.from({ length: 5 }, () => record());
    await state.writeUsage(first.map((r) => ({ kind: "record", record: r })));
    expect(await totals()).toEqual({ requests: 5, used: 500 });
    const replayed = [first[1], ...Array.from({ length: 8 }, () => record()), first[3]] as UsageRecord[];
    await state.writeUsage(replayed.map((r) => ({ kind: "record", record: r })));
    expect(await totals()).toEqual({ requests: 13, used: 1300 });
    // more than one statement's worth (32 rows), other groups in the same batch
    await state.writeUsage(Array.from({ length: 40 }, (_, i) => ({ kind: "record" as const, record: record(i % 2 ? { groups: ["ml"] } : {}) })));
    expect(await totals()).toEqual({ requests: 53, used: 5300 });
    const byGroup = await state.usageReport({ tenant: "acme", since: "2026-12-04", until: "2026-12-04", by: "group" });
    expect(byGroup.map((r) => [r.key, r.requests])).toEqual([["eng", 33], ["ml", 20]]);
    await state.close();
  });
}

test("in memory, the ledger keeps the latest records up to its cap (trimmed in one DELETE past a small slack); budgets and roll-ups still count every record", async () => {
  const state = new SqliteState(":memory:", { memoryLedgerRows: 20 });
  await state.setBudget({ tenant: "acme", subject: { kind: "tenant", id: "*" }, period: "day", unit: "usd", limit: 1_000_000_000, soft: false });
  const now = Date.parse("2026-12-04T13:00:00Z");
  const ledger = async () => (await state.usageReport({ tenant: "acme", since: "2026-12-04", until: "2026-12-04", by: "user" }))[0]?.requests;
  const written: UsageRecord[] = [];
  for (let i = 0; i < 20; i++) {
    const r = record();
    written.push(r);
    await state.recordUsage(r);
  }
  expect(await ledger()).toBe(20);
  await state.recordUsage(record()); // within the slack (1 record at a cap of 20)
  expect(await ledger()).toBe(21);
  await state.writeUsage(Array.from({ length: 9 }, () => ({ kind: "record" as const, record: record() })));
  expect(await ledger()).toBe(20); // trimmed to the cap: the oldest went
  expect((await state.budgetStatus(alice, now))[0]?.used).toBe(3000); // all 30 records' cost
  const rows = await state.rollups.sum("acme", "model", ["2026-12-04"]);
  expect(rows.reduce((n, r) => n + r.figures.requests, 0)).toBe(30);
  // a recent record replayed is still recognised (not counted twice)
  await state.recordUsage(written[19] as UsageRecord);
  expect((await state.budgetStatus(alice, now))[0]?.used).toBe(3000);
  await state.close();
});

test("in a file, the ledger is not capped (it is the record of spend)", async () => {
  const state = new SqliteState(join(dir, `${++seq}.db`), { memoryLedgerRows: 5, usageWrites: "inline" });
  await state.writeUsage(Array.from({ length: 12 }, () => ({ kind: "record" as const, record: record() })));
  expect((await state.usageReport({ tenant: "acme", since: "2026-12-04", until: "2026-12-04", by: "user" }))[0]?.requests).toBe(12);
  await state.close();
});
