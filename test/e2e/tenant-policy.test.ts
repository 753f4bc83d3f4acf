/**
 * `npm run tenant -- --replicas 2 --policy FILE` (issue 18): the real tenant process hands the
 * policy to both of its proxy replicas (model rules on each, the same hash in /readyz), SIGHUP to
 * the tenant re-reads it on every replica, and an invalid file stops it at start with exit 2.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tenantAccessToken } from "../support/http-login.ts";
import { BUN, ROOT, startTenant, type TenantProcess } from "../support/tenant.ts";
import { within } from "../support/gateway.ts";

const dir = mkdtempSync(join(tmpdir(), "ara-tenant-policy-"));
const policyFile = join(dir, "policy.yaml");
let tenant: TenantProcess;
let stderr = "";

beforeAll(async () => {
  // the default user demo is in `developers`
  writeFileSync(policyFile, 'groups:\n  developers:\n    models: ["claude-haiku-*"]\n');
  tenant = await startTenant(["--replicas", "2", "--policy", policyFile]);
  tenant.child.stderr!.on("data", (d) => (stderr += d));
}, 30_000);
afterAll(async () => {
  await tenant?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ask = (base: string, token: string, model: string) => fetch(`${base}/anthropic/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] }) });
const hash = async (base: string) => /policy sha256:([0-9a-f]{64})/.exec(await (await fetch(`${base}/readyz`)).text())?.[1];

test("both replicas enforce the policy and apply a change; SIGHUP to the tenant re-reads it on each", async () => {
  const demo = tenant.users.find((u) => u.username === "demo")!;
  const token = await tenantAccessToken(tenant, demo.username, demo.password);
  for (const base of tenant.proxies) {
    expect((await ask(base, token, "claude-haiku-4-5")).status).toBe(200);
    const refused = await ask(base, token, "claude-sonnet-4-5");
    expect(refused.status).toBe(403);
    expect(refused.headers.get("x-agent-runner-reason")).toBe("model_not_allowed");
  }
  const before = await hash(tenant.proxies[0]!);
  expect(before).toMatch(/^[0-9a-f]{64}$/);
  expect(await hash(tenant.proxies[1]!)).toBe(before);
  // written in place (no rename): each replica sees it
  writeFileSync(policyFile, 'groups:\n  developers:\n    models: ["claude-haiku-*", "claude-sonnet-*"]\n');
  await within(5000, async () => (await Promise.all(tenant.proxies.map(async (base) => (await ask(base, token, "claude-sonnet-4-5")).status))).every((s) => s === 200));
  expect(await hash(tenant.proxies[0]!)).not.toBe(before);
  expect(await hash(tenant.proxies[1]!)).toBe(await hash(tenant.proxies[0]!));
  // an invalid file: each replica says so once; SIGHUP makes each read it again and say so again
  writeFileSync(policyFile, "groups:\n  developers:\n    models: claude-haiku\n");
  const said = () => stderr.split("\n").filter((l) => l.includes("groups.developers.models") && l.includes("keeping the policy in force")).length;
  await within(5000, async () => said() === 2);
  tenant.child.kill("SIGHUP");
  await within(3000, async () => said() === 4);
  expect((await ask(tenant.proxies[1]!, token, "claude-sonnet-4-5")).status).toBe(200);
}, 30_000);

test("an invalid policy file: the tenant does not start, exit 2 with the member named", () => {
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "groups:\n  developers:\n    budgets:\n      - { period: week, usd: 5 }\n");
  const run = spawnSync(BUN, [join(ROOT, "src/tenant/main.ts"), "--port", "0", "--policy", bad], { encoding: "utf8", timeout: 20_000 });
  expect(run.status).toBe(2);
  expect(run.stderr).toContain(`--policy: ${bad}:4: groups.developers.budgets[0].period: must be "day" or "month"`);
});
