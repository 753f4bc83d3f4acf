/**
 * The audit log and budget alerts, end to end (issue 18 §3, §4): the local tenant with two proxy
 * replicas sharing a real redis-server, and again sharing a SQLite file, `--alerts-webhook` at a local receiver that checks every
 * signature, and the REAL built binary for the admin commands. A budget change made with the CLI
 * is in `admin audit` (JSON and CSV) with who, what, the old and the new value; requests through
 * both replicas that cross all three thresholds of a soft budget deliver one signed POST per
 * threshold, never a second one although both replicas keep observing the crossed budget.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { messageBody, post } from "../support/gateway.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser, type CliResult } from "../support/cli.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

const ADMIN_GROUP = "gateway-admins";
const PASSWORDS = { demo: "demo-password-1", admin: "admin-password-1" } as const;
const SECRET = "whsec-0123456789abcdef0123456789abcdef";

let redis: TestRedis;
let dir: string;
const SECRET_FILE = () => join(dir, "alerts-secret");
/** What the receiver got: every body, whether its signature was right, its alert id. */
const received: { body: Record<string, unknown>; signed: boolean; id: string | null }[] = [];
let receiver: ReturnType<typeof Bun.serve>;

function signatureOk(raw: string, header: string | null): boolean {
  const expected = Buffer.from("sha256=" + createHmac("sha256", SECRET).update(raw).digest("hex"));
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

beforeAll(async () => {
  redis = await startTestRedis();
  dir = mkdtempSync(join(tmpdir(), "ara-audit-alerts-"));
  writeFileSync(SECRET_FILE(), SECRET + "\n", { mode: 0o600 });
  receiver = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const raw = await request.text();
      received.push({ body: JSON.parse(raw) as Record<string, unknown>, signed: signatureOk(raw, request.headers.get("x-agent-runner-signature")), id: request.headers.get("x-agent-runner-alert-id") });
      return new Response(null, { status: 204 });
    },
  });
});
afterAll(async () => {
  receiver?.stop(true);
  await redis?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const store of ["redis", "sqlite"] as const) {
  describe(`two replicas on ${store}`, () => {
    let tenant: TenantProcess;
    const homes: Record<string, Record<string, string>> = {};

    async function signIn(who: keyof typeof PASSWORDS): Promise<void> {
      homes[who] = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", CI: "1", ...scriptedBrowser(who, PASSWORDS[who]) });
      const login = await runCli(["login", tenant.tenant], { ...homes[who]!, CI: "" });
      expect(login.code, login.stderr).toBe(0);
    }
    const cli = (who: string, args: string[]): Promise<CliResult> => runCli(args, homes[who]!);

    beforeAll(async () => {
      received.length = 0;
      const state = store === "redis" ? redis.url : `sqlite:${join(mkdtempSync(join(dir, "state-")), "state.db")}`;
      tenant = await startTenant([
        "--replicas", "2", "--state", state, "--admin-group", ADMIN_GROUP, "--slug", `acme-${store}`,
        "--alerts-webhook", `http://127.0.0.1:${receiver.port}/hooks/budget`, "--alerts-secret-file", SECRET_FILE(),
        "--user", `demo:${PASSWORDS.demo}:developers`, "--user", `admin:${PASSWORDS.admin}:${ADMIN_GROUP}`,
      ]);
      expect(tenant.proxies).toHaveLength(2);
      await signIn("admin");
      await signIn("demo");
    }, 60_000);
    afterAll(async () => {
      await tenant?.stop();
    });

    describe("audit through the real binary", () => {
      test("a budget set, then changed: rows with the admin as actor, the old and the new values and a request id, in JSON and CSV", async () => {
        for (const args of [["--tokens", "1000"], ["--tokens", "100", "--soft"]]) {
          const set = await cli("admin", ["admin", "budget", "set", "--user", "demo", "--period", "day", ...args]);
          expect(set.code, set.stderr).toBe(0);
        }
        const audit = await cli("admin", ["admin", "audit", "--json"]);
        expect(audit.code, audit.stderr).toBe(0);
        const rows = (JSON.parse(audit.stdout) as Record<string, unknown>[]).filter((r) => r.action === "budget.set");
        expect(rows).toHaveLength(2);
        expect(rows[0]).toMatchObject({ actor: "admin", action: "budget.set", target: "user demo", old: null, new: { user: "demo", period: "day", unit: "tokens", limit: 1000, soft: false } });
        expect(rows[1]).toMatchObject({ actor: "admin", target: "user demo", old: { limit: 1000, soft: false }, new: { limit: 100, soft: true } });
        for (const r of rows) {
          expect(typeof r.actor_sub).toBe("string");
          expect(String(r.request_id)).toStartWith("req_proxy_");
          expect(Date.parse(String(r.time))).toBeGreaterThan(Date.now() - 60_000);
        }
        const csv = await cli("admin", ["admin", "audit", "--csv", "--since", new Date().toISOString().slice(0, 10)]);
        expect(csv.code, csv.stderr).toBe(0);
        const lines = csv.stdout.trim().split("\r\n");
        expect(lines[0]).toBe("time,actor,actor_sub,action,target,old,new,request_id");
        expect(lines.filter((l) => l.includes(",budget.set,user demo,"))).toHaveLength(2);
      }, 60_000);
    });

    describe("budget alerts with two replicas", () => {
      test("a soft budget crossed at 50, 80 and 100 %: one signed POST per threshold, none twice although both replicas keep observing it", async () => {
        const token = await cli("demo", ["token"]);
        expect(token.code, token.stderr).toBe(0);
        // the 100-token soft budget of the audit test above; every request uses more than that
        for (let i = 0; i < 6; i++) {
          const r = await post(tenant.proxies[i % 2]!, token.stdout.trim(), messageBody());
          await r.body?.cancel();
          expect(r.status).toBe(200);
          await Bun.sleep(100);
        }
        const deadline = Date.now() + 10_000;
        while (received.length < 3 && Date.now() < deadline) await Bun.sleep(50);
        // time for a duplicate to arrive, if any replica were to send one
        await Bun.sleep(2_000);
        expect(received.map((r) => r.body.threshold).sort()).toEqual([0.5, 0.8, 1]);
        expect(received.every((r) => r.signed)).toBe(true);
        expect(new Set(received.map((r) => r.id)).size).toBe(3);
        expect(received[0]!.body).toMatchObject({ type: "budget.threshold", tenant: `acme-${store}`, user: "demo", budget: { scope: "user", period: "day", tokens: 100, soft: true } });
        expect(Number(received[0]!.body.spent)).toBeGreaterThanOrEqual(50);
      }, 60_000);

      test("a hard budget refusing requests far short of its limit: its 100 % alert, once, saying so (spend alone would never get there)", async () => {
        const set = await cli("admin", ["admin", "budget", "set", "--user", "demo", "--period", "month", "--tokens", "50000"]);
        expect(set.code, set.stderr).toBe(0);
        const token = (await cli("demo", ["token"])).stdout.trim();
        const before = received.length;
        for (let i = 0; i < 3; i++) {
          // the estimate (max_tokens) does not fit what is left of 50,000 tokens, a few thousand spent
          const r = await post(tenant.proxies[i % 2]!, token, messageBody({ max_tokens: 64_000 }));
          expect(r.status).toBe(403); // used up for this request: not a 429 a client would retry
          expect(((await r.json()) as { error: { type: string; message: string } }).error.message).toContain("than this request may cost");
        }
        const deadline = Date.now() + 10_000;
        while (received.length === before && Date.now() < deadline) await Bun.sleep(50);
        await Bun.sleep(2_000); // time for a duplicate, if any
        const refusals = received.slice(before);
        expect(refusals).toHaveLength(1);
        expect(refusals[0]!.body).toMatchObject({ type: "budget.threshold", threshold: 1, refusing: true, user: "demo", budget: { period: "month", tokens: 50_000, soft: false } });
        expect(Number(refusals[0]!.body.spent)).toBeLessThan(25_000);
        expect(refusals[0]!.signed).toBe(true);
      }, 60_000);
    });
  });
}
