import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AlertSpool } from "./spool.ts";
import { alertsFor } from "./thresholds.ts";
import type { BudgetObservation, SpooledAlert } from "./types.ts";

const obs: BudgetObservation = { tenant: "acme", scope: "tenant", subject: "*", subjectName: "acme", budget: { name: "admin API", source: "admin API", period: "month", unit: "usd", limit: 100, soft: false }, periodKey: "2026-12", spent: 100, resetsAt: 0 };
const alerts: SpooledAlert[] = alertsFor(obs, [0.5, 0.8, 1.0], 1).map((a, i) => ({ ...a, detectedAt: i, claimant: `c${i}`, attempts: 0 }));
const me = (pid: number, host = "h1") => ({ identity: { host, pid, startMs: 5 }, isAlive: (p: number) => p === 1 || p === 2 });

test("put is durable and private; recover returns the process's own alerts; remove deletes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-aspool-"));
  const spool = AlertSpool.open(join(dir, "alerts"), me(1));
  for (const a of alerts) await spool.put(a);
  expect(statSync(join(dir, "alerts")).mode & 0o777).toBe(0o700);
  const names = readdirSync(join(dir, "alerts"));
  expect(names).toHaveLength(3);
  expect(names.every((n) => /^alert_[0-9a-f]{32}~h1_1_5\.json$/.test(n))).toBe(true);
  expect(statSync(join(dir, "alerts", names[0]!)).mode & 0o777).toBe(0o600);
  expect((await spool.recover()).map((a) => a.threshold)).toEqual([0.5, 0.8, 1.0]);
  await spool.remove(alerts[0]!.id);
  await spool.remove(alerts[0]!.id); // twice: fine
  expect(await spool.recover()).toHaveLength(2);
});

test("a live process's files are left alone; a dead one's are taken over by exactly one successor", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-aspool-"));
  await AlertSpool.open(dir, me(2)).put(alerts[0]!); // pid 2: alive
  await AlertSpool.open(dir, me(9)).put(alerts[1]!); // pid 9: dead
  const [x, y] = await Promise.all([AlertSpool.open(dir, me(1)).recover(), AlertSpool.open(dir, { ...me(3), identity: { host: "h1", pid: 3, startMs: 5 } }).recover()]);
  expect([...x, ...y].map((a) => a.claimant)).toEqual(["c1"]);
  expect(readdirSync(dir).filter((n) => n.includes("~h1_2_5"))).toHaveLength(1);
});

test("another host's file: taken over only once it is stale", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-aspool-"));
  await AlertSpool.open(dir, me(1, "h2")).put(alerts[0]!);
  const local = AlertSpool.open(dir, { ...me(1), staleMs: 60_000 });
  expect(await local.recover()).toEqual([]);
  const [name] = readdirSync(dir);
  const old = new Date(Date.now() - 120_000);
  utimesSync(join(dir, name!), old, old);
  expect((await local.recover()).map((a) => a.claimant)).toEqual(["c0"]);
});

test("a torn or foreign file is set aside, never fatal", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-aspool-"));
  const spool = AlertSpool.open(dir, me(1));
  writeFileSync(join(dir, `alert_${"a".repeat(32)}~h1_1_5.json`), '{"id": "aaa');
  writeFileSync(join(dir, "unrelated.txt"), "x");
  const corrupt: string[] = [];
  const s2 = AlertSpool.open(dir, { ...me(1), onCorrupt: (f) => corrupt.push(f) });
  expect(await s2.recover()).toEqual([]);
  expect(corrupt).toHaveLength(1);
  expect(readdirSync(dir).sort()).toEqual([`alert_${"a".repeat(32)}~h1_1_5.json.corrupt`, "unrelated.txt"]);
  expect(await spool.recover()).toEqual([]);
});
