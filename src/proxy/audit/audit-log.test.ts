import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { MemoryClaims } from "../coordination/claim-once.ts";
import type { AuditEntry } from "../model/audit.ts";
import { StateUnavailable } from "../state/types.ts";
import { adminKeyActor, AuditLog } from "./audit-log.ts";

function fakeStore(fail = false) {
  const rows: AuditEntry[] = [];
  const claims = new MemoryClaims();
  return {
    rows,
    appendAudit: async (e: AuditEntry) => {
      if (fail) throw new StateUnavailable("redis down");
      rows.push(e);
    },
    claimOnce: (key: string, claimant: string, ttl: number) => claims.claimOnce(key, claimant, ttl),
  };
}

const logOf = (state: ReturnType<typeof fakeStore>, claimant: string, lines: string[] = [], failures: string[] = []) =>
  new AuditLog({ state, claimant, log: (_level, message) => void lines.push(message), failures: { inc: ({ action }) => void failures.push(action) }, now: () => 1_000 });

describe("AuditLog", () => {
  test("the admin key is named by the first 8 hex of its SHA-256, never itself", () => {
    const key = "adminkey-0123456789abcdef0123456789abcdef";
    expect(adminKeyActor(key)).toBe(`admin key ${createHash("sha256").update(key).digest("hex").slice(0, 8)}`);
    expect(adminKeyActor(key)).not.toContain(key.slice(0, 8));
  });

  test("record: the row with its time; a store that refuses it is logged and counted, and never throws", async () => {
    const store = fakeStore();
    expect(await logOf(store, "a").record({ tenant: "acme", actor: "carol", action: "budget.set", target: "user bob", old: null, new: { usd: 5 }, requestId: "req_1" })).toBe(true);
    expect(store.rows).toEqual([{ time: 1_000, tenant: "acme", actor: "carol", action: "budget.set", target: "user bob", old: null, new: { usd: 5 }, requestId: "req_1" }]);
    const lines: string[] = [];
    const failures: string[] = [];
    expect(await logOf(fakeStore(true), "a", lines, failures).record({ tenant: "acme", actor: "carol", action: "revoke", target: "user bob", old: null, new: [] })).toBe(false);
    expect(failures).toEqual(["revoke"]);
    expect(lines[0]).toContain("audit row not written (redis down): revoke on user bob by carol");
  });

  test("recordReload: one row per new hash, whichever of two replicas sees it", async () => {
    const store = fakeStore();
    const [a, b] = [logOf(store, "replica-a"), logOf(store, "replica-b")];
    const change = { hash: "sha256:abc", previousHash: "sha256:old", source: "/etc/agent-runner/policy.yaml" };
    const won = await Promise.all([a.recordReload("acme", change), b.recordReload("acme", change), b.recordReload("acme", change)]);
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(store.rows).toEqual([{ time: 1_000, tenant: "acme", actor: "policy", action: "policy.reload", target: "/etc/agent-runner/policy.yaml", old: { hash: "sha256:old" }, new: { hash: "sha256:abc" } }]);
    expect(await b.recordReload("acme", { ...change, hash: "sha256:def" })).toBe(true);
    expect(store.rows).toHaveLength(2);
  });
});
