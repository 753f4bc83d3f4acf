/**
 * The local tenant's scale options, with the real tenant process: `--replicas 2` (two proxy
 * processes sharing a SQLite state file), `--admin-group` (a default user in that group, groups in
 * the JSON line), and `--upstream` + `--upstream-key-env` (the whole tenant pointed at another stub).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startStubUpstream } from "../../src/tenant/stub-upstream.ts";
import { tenantAccessToken } from "../support/http-login.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

const OTHER_KEY = "sk-ant-other-stub-key-0123456789";
let other: ReturnType<typeof startStubUpstream>;
let tenant: TenantProcess;

beforeAll(async () => {
  other = startStubUpstream({ apiKey: OTHER_KEY });
  tenant = await startTenant(["--replicas", "2", "--admin-group", "ops", "--upstream", other.url, "--upstream-key-env", "ARA_OTHER_STUB_KEY"], { ARA_OTHER_STUB_KEY: OTHER_KEY });
});
afterAll(async () => {
  await tenant?.stop();
  other?.stop();
});

/** An access token through the IdP's real login page and the authorization-code + PKCE grant. */
function accessToken(username: string): Promise<string> {
  const user = tenant.users.find((u) => u.username === username)!;
  return tenantAccessToken(tenant, user.username, user.password);
}

const ask = (base: string, token: string) => fetch(`${base}/anthropic/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }) });
const admin = (base: string, token: string, path: string, init: RequestInit = {}) => fetch(`${base}/_gateway/admin/v1/${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });

describe("local tenant: --replicas, --admin-group, --upstream", () => {
  test("the JSON line lists every replica (distinct ports), each user's groups, the shared state", () => {
    expect(tenant.proxies).toHaveLength(2);
    expect(tenant.proxies[0]).toBe(tenant.tenant);
    expect(new Set(tenant.proxies.map((u) => new URL(u).port)).size).toBe(2);
    expect(tenant.users).toEqual([
      { username: "demo", password: "demo-password-1", groups: ["developers"] },
      { username: "admin", password: "admin-password-1", groups: ["developers", "ops"] },
    ]);
    expect(tenant.state).toMatch(/^sqlite:.*ara-tenant-.*\/state\.db$/);
    expect(tenant.upstream).toBe(other.url);
    // a real upstream's key is never printed: upstream_key names only the local stub's
    expect(tenant.upstream_key).toBeUndefined();
    expect(JSON.stringify(tenant)).not.toContain(OTHER_KEY);
  });

  test("both replicas forward to the given upstream with its key; the admin-group member administers; a revocation on one replica holds on the other", async () => {
    const demo = await accessToken("demo");
    const before = other.stats.requests;
    for (const base of tenant.proxies) expect((await ask(base, demo)).status).toBe(200);
    expect(other.stats.requests).toBe(before + 2);

    const adminToken = await accessToken("admin");
    expect((await admin(tenant.proxies[1]!, demo, "usage")).status).toBe(403);
    // both replicas' requests are in the one ledger, once each replica's writer thread has
    // committed its batch (usage is recorded after the answer, a few ms later)
    const demoRequests = async () => ((await (await admin(tenant.proxies[1]!, adminToken, "usage")).json()) as { user: string; requests: number }[]).find((r) => /^demo(@|$)/.test(r.user))?.requests;
    let requests = await demoRequests();
    for (const until = Date.now() + 3000; requests !== 2 && Date.now() < until; requests = await demoRequests()) await Bun.sleep(50);
    expect(requests).toBe(2);

    expect((await admin(tenant.proxies[0]!, adminToken, "revocations", { method: "POST", body: JSON.stringify({ user: "demo" }) })).status).toBeLessThan(300);
    const deadline = Date.now() + 3000;
    let status = 0;
    while (Date.now() < deadline && (status = (await ask(tenant.proxies[1]!, demo)).status) !== 401) await Bun.sleep(50);
    expect(status).toBe(401);
  }, 30_000);

  test("bad options: exit 2 with the option named", () => {
    const run = (args: string[], env: Record<string, string> = {}) => Bun.spawnSync([process.execPath, `${import.meta.dir}/../../src/tenant/main.ts`, ...args], { stderr: "pipe", env: { ...process.env, ...env } });
    const cases: [string[], string][] = [
      [["--upstream", "http://127.0.0.1:1"], "--upstream and --upstream-key-env go together"],
      [["--upstream", "http://127.0.0.1:1", "--upstream-key-env", "ARA_SURELY_UNSET_VAR"], "ARA_SURELY_UNSET_VAR: that environment variable is not set"],
      [["--replicas", "0"], "--replicas must be a positive integer"],
      [["--replicas", "2", "--state", "sqlite::memory:"], "cannot be shared by several replicas"],
      [["--state", "postgres://x"], "--state must be sqlite:"],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toString()).toContain(message);
    }
  });
});
