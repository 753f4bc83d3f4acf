/**
 * Budget alerts end to end in one process: two "replicas" (their own spools and deliveries, one
 * shared ClaimOnce as the state store will be) observe the same spend, and a local webhook
 * server that checks the signature receives each threshold once; retries, refusals, a restart
 * with a spooled alert, and a crash between spooling and claiming.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryClaims, type ClaimOnce } from "../coordination/claim-once.ts";
import { BudgetAlerts } from "./budget-alerts.ts";
import { AlertDelivery, backoffDelay, type DeliveryResult } from "./delivery.ts";
import { AlertSpool } from "./spool.ts";
import { alertsFor } from "./thresholds.ts";
import type { AlertFormat, BudgetObservation } from "./types.ts";

const SECRET = "whsec-0123456789abcdef0123456789";

interface Received {
  body: Record<string, unknown>;
  alertId: string | null;
}

/** A webhook receiver that verifies the signature (as a customer's would) before accepting. */
function webhookServer(respond: (n: number) => Response | Promise<Response> = () => new Response(null, { status: 204 })) {
  const received: Received[] = [];
  let requests = 0;
  let badSignatures = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      requests++;
      const raw = await req.text();
      const expected = Buffer.from(`sha256=${createHmac("sha256", SECRET).update(raw).digest("hex")}`);
      const given = Buffer.from(req.headers.get("x-agent-runner-signature") ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        badSignatures++;
        return new Response("bad signature", { status: 401 });
      }
      const answer = await respond(requests);
      if (answer.ok) received.push({ body: JSON.parse(raw), alertId: req.headers.get("x-agent-runner-alert-id") });
      return answer;
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}/hooks/budget`, received, requests: () => requests, badSignatures: () => badSignatures, server };
}

const servers: ReturnType<typeof Bun.serve>[] = [];
const deliveries: AlertDelivery[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
  for (const d of deliveries.splice(0)) d.close();
});

function replica(options: { webhook: string; claims: ClaimOnce; dir?: string; pid?: number; secret?: string; format?: AlertFormat; timeoutMs?: number; isAlive?: (pid: number) => boolean }) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "ara-alerts-"));
  const spool = AlertSpool.open(dir, { identity: { host: "test-host", pid: options.pid ?? 1000 + servers.length, startMs: Date.now() }, isAlive: options.isAlive ?? (() => true) });
  const logs: { level: string; message: string }[] = [];
  const results: DeliveryResult[] = [];
  const log = (level: string, message: string) => void logs.push({ level, message });
  const delivery = new AlertDelivery({
    fetch: (url, init) => fetch(url, init),
    spool,
    config: { webhook: options.webhook, webhookOrigin: new URL(options.webhook).origin, secret: options.secret ?? SECRET, format: options.format ?? "json" },
    log,
    deliveries: { inc: ({ result }) => void results.push(result) },
    baseDelayMs: 20,
    maxDelayMs: 100,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  deliveries.push(delivery);
  const alerts = new BudgetAlerts({ claims: options.claims, spool, delivery, thresholds: [0.5, 0.8, 1.0], log });
  return { dir, spool, delivery, alerts, logs, results };
}

const observation = (spent: number, periodKey = "2026-12-04"): BudgetObservation => ({
  tenant: "acme",
  scope: "user",
  subject: "sub-carol",
  subjectName: "carol@example.com",
  budget: { name: "groups.contractors.budgets[0]", source: "group contractors", period: "day", unit: "usd", limit: 5_000_000, soft: false },
  periodKey,
  spent,
  resetsAt: Date.now() + 3_600_000,
});

const spoolFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith("alert_"));

describe("once per threshold, budget and period, on any replica", () => {
  test("two replicas observe the same spend: each threshold arrives once, signed; a new period alerts again", async () => {
    const hook = webhookServer();
    const claims = new MemoryClaims();
    const a = replica({ webhook: hook.url, claims, pid: 1 });
    const b = replica({ webhook: hook.url, claims, pid: 2 });
    for (const spent of [1_500_000, 2_600_000, 3_000_000, 4_100_000, 6_000_000]) {
      await Promise.all([a.alerts.observe(observation(spent)), b.alerts.observe(observation(spent + 1))]);
    }
    await Promise.all([a.delivery.idle(), b.delivery.idle()]);
    expect(hook.received.map((r) => r.body.threshold)).toEqual([0.5, 0.8, 1.0]);
    expect(hook.badSignatures()).toBe(0);
    expect(hook.received[0]!.body).toMatchObject({ type: "budget.threshold", tenant: "acme", user: "carol@example.com", budget: { scope: "user", period: "day", usd: 5 }, threshold: 0.5 });
    expect(hook.received.map((r) => r.alertId)).toEqual(hook.received.map((r) => r.body.id as string));
    await a.alerts.observe(observation(2_600_000, "2026-12-05"));
    await a.delivery.idle();
    expect(hook.received.map((r) => r.body.threshold)).toEqual([0.5, 0.8, 1.0, 0.5]);
    expect([...spoolFiles(a.dir), ...spoolFiles(b.dir)]).toEqual([]);
  });

  test("concurrent requests of one crossing in one process make one alert", async () => {
    const hook = webhookServer();
    const r = replica({ webhook: hook.url, claims: new MemoryClaims() });
    await Promise.all(Array.from({ length: 20 }, () => r.alerts.observe(observation(2_600_000))));
    await r.delivery.idle();
    expect(hook.received).toHaveLength(1);
  });
});

describe("delivery", () => {
  test("503 twice then 204: retried with backoff, delivered once", async () => {
    const hook = webhookServer((n) => (n <= 2 ? new Response("busy", { status: 503 }) : new Response(null, { status: 204 })));
    const r = replica({ webhook: hook.url, claims: new MemoryClaims() });
    await r.alerts.observe(observation(2_600_000));
    await r.delivery.idle();
    expect(hook.requests()).toBe(3);
    expect(hook.received).toHaveLength(1);
    expect(r.results).toEqual(["delivered"]);
    expect(r.logs.filter((l) => l.level === "warn")).toHaveLength(1); // said once, not per attempt
    expect(r.logs.map((l) => l.message).join("\n")).not.toContain("/hooks/budget"); // the origin only
  });

  test("a 4xx other than 408/425/429 is the receiver's no: not retried, the spool emptied, an error line", async () => {
    const hook = webhookServer(() => new Response("gone", { status: 410 }));
    const r = replica({ webhook: hook.url, claims: new MemoryClaims() });
    await r.alerts.observe(observation(2_600_000));
    await r.delivery.idle();
    expect(hook.requests()).toBe(1);
    expect(r.results).toEqual(["rejected"]);
    expect(r.logs.at(-1)).toEqual({ level: "error", message: expect.stringMatching(/^budget alert [0-9a-f]{32} dropped: http:\/\/127\.0\.0\.1:\d+ refused it \(HTTP 410\)$/) });
    expect(spoolFiles(r.dir)).toEqual([]);
  });

  test("a wrong secret: the receiver's 401 refuses it (and the signature was really checked)", async () => {
    const hook = webhookServer();
    const r = replica({ webhook: hook.url, claims: new MemoryClaims(), secret: "not-the-receivers-secret" });
    await r.alerts.observe(observation(2_600_000));
    await r.delivery.idle();
    expect(hook.badSignatures()).toBe(1);
    expect(hook.received).toEqual([]);
    expect(r.results).toEqual(["rejected"]);
  });

  test("a receiver that never answers: each attempt ends at the deadline and is retried", async () => {
    let calls = 0;
    const hook = webhookServer(async () => {
      calls++;
      if (calls === 1) await Bun.sleep(2_000);
      return new Response(null, { status: 204 });
    });
    const r = replica({ webhook: hook.url, claims: new MemoryClaims(), timeoutMs: 100 });
    const started = performance.now();
    await r.alerts.observe(observation(2_600_000));
    await r.delivery.idle();
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(r.results).toEqual(["delivered"]);
  });

  test("slack format: {text}", async () => {
    const hook = webhookServer();
    const r = replica({ webhook: hook.url, claims: new MemoryClaims(), format: "slack" });
    await r.alerts.observe(observation(2_600_000));
    await r.delivery.idle();
    expect(hook.received[0]!.body).toEqual({ text: expect.stringMatching(/^Budget alert \(acme\): carol@example\.com has used 50% of the daily \$5\.00 budget/) });
  });

  test("backoff: doubling with jitter, capped, a Retry-After honoured up to the cap", () => {
    const at = (attempt: number, random = 0.5, retryAfterMs?: number) => backoffDelay(attempt, { baseDelayMs: 1000, maxDelayMs: 300_000, random: () => random, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    expect([1, 2, 3, 4].map((n) => at(n))).toEqual([1000, 2000, 4000, 8000]);
    expect(at(1, 0)).toBe(800);
    expect(at(1, 1)).toBe(1200);
    expect(at(30)).toBe(300_000);
    expect(at(1, 0.5, 30_000)).toBe(30_000);
    expect(at(1, 0.5, 3_600_000)).toBe(300_000);
  });
});

describe("across restarts", () => {
  test("an alert spooled by a process that died is delivered by its successor, once", async () => {
    const down = webhookServer(() => new Response("down", { status: 503 }));
    const claims = new MemoryClaims();
    const first = replica({ webhook: down.url, claims, pid: 4242 });
    await first.alerts.observe(observation(2_600_000));
    await Bun.sleep(100); // a few failed attempts
    first.delivery.close(); // the process dies
    expect(spoolFiles(first.dir)).toHaveLength(1);
    const up = webhookServer();
    const second = replica({ webhook: up.url, claims, dir: first.dir, pid: 4343, isAlive: (pid) => pid !== 4242 });
    expect(await second.alerts.resume()).toBe(1);
    await second.delivery.idle();
    expect(up.received.map((r) => r.body.threshold)).toEqual([0.5]);
    // the successor also knows it was handled: the same spend again sends nothing
    await second.alerts.observe(observation(2_600_000));
    await second.delivery.idle();
    expect(up.received).toHaveLength(1);
    expect(spoolFiles(first.dir)).toEqual([]);
  });

  test("a crash between spooling and claiming: if another replica claimed meanwhile, the spooled copy is dropped unsent", async () => {
    const hook = webhookServer();
    const claims = new MemoryClaims();
    const dir = mkdtempSync(join(tmpdir(), "ara-alerts-"));
    const [alert] = alertsFor(observation(2_600_000), [0.5], Date.now());
    await AlertSpool.open(dir, { identity: { host: "test-host", pid: 77, startMs: 1 } }).put({ ...alert!, claimant: "crashed-one", attempts: 0 });
    expect(await claims.claimOnce(alert!.key, "other-replica", 60_000)).toBe(true);
    const successor = replica({ webhook: hook.url, claims, dir, pid: 78, isAlive: () => false });
    expect(await successor.alerts.resume()).toBe(0);
    expect(hook.requests()).toBe(0);
    expect(existsSync(dir) && spoolFiles(dir)).toEqual([]);
  });

  test("the state store unable to decide: the alert waits in the spool and is claimed when it can", async () => {
    const hook = webhookServer();
    let storeUp = false;
    const memory = new MemoryClaims();
    const flaky: ClaimOnce = { claimOnce: (k, c, t) => (storeUp ? memory.claimOnce(k, c, t) : Promise.reject(new Error("redis: connection refused"))) };
    const dir = mkdtempSync(join(tmpdir(), "ara-alerts-"));
    const spool = AlertSpool.open(dir);
    const delivery = new AlertDelivery({ fetch: (u, i) => fetch(u, i), spool, config: { webhook: hook.url, webhookOrigin: "x", secret: SECRET, format: "json" }, log: () => {}, deliveries: { inc: () => {} } });
    deliveries.push(delivery);
    const alerts = new BudgetAlerts({ claims: flaky, spool, delivery, thresholds: [0.5], log: () => {}, claimRetryMs: 30 });
    await alerts.observe(observation(2_600_000));
    expect(spoolFiles(dir)).toHaveLength(1);
    await Bun.sleep(80);
    expect(hook.requests()).toBe(0);
    storeUp = true;
    const deadline = Date.now() + 2_000;
    while (hook.received.length === 0 && Date.now() < deadline) await Bun.sleep(10);
    await delivery.idle();
    expect(hook.received).toHaveLength(1);
  });
});
