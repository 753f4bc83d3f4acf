/**
 * `admin …`, `usage` and `logout` through the REAL built binary against the local tenant with two
 * proxy replicas sharing one SQLite state, people signed in through the login page (the scripted
 * browser): the usage report equals what the stub upstream reported (cache tokens included), as
 * JSON and CSV; a budget refuses the next request with the Anthropic-shaped message naming it and
 * clearing it lets the request through; a rate limit gives 429 with retry-after; revoke cuts a
 * person off on every replica within 2 s and restore lets them back; a non-admin gets exit 1;
 * `usage --json` and the cached `usage --status-line`; `logout` makes a copy of the old access
 * token fail on every replica within 2 s.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stubUsage } from "../../src/tenant/stub-upstream.ts";
import { messageBody, post } from "../support/gateway.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser, type CliResult } from "../support/cli.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

const ADMIN_GROUP = "gateway-admins";
// with --user the tenant adds no `admin` user of its own: one is named here, in the admin group
const PASSWORDS = { demo: "demo-password-1", carol: "carol-password-1", admin: "admin-password-1", dev: "dev-password-1" } as const;
/** A username that looks like an e-mail (their e-mail is another address): the trap. */
const DEV = "dev@example.com";

let tenant: TenantProcess;
const homes: Record<string, Record<string, string>> = {};

async function signIn(who: string, password: string): Promise<void> {
  homes[who] = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", CI: "1", ...scriptedBrowser(who, password) });
  const login = await runCli(["login", tenant.tenant], { ...homes[who]!, CI: "" });
  expect(login.code, login.stderr).toBe(0);
}

const cli = (who: string, args: string[]): Promise<CliResult> => runCli(args, homes[who]!);
async function tokenOf(who: string): Promise<string> {
  const r = await cli(who, ["token"]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}
const statusOn = async (url: string, token: string) => (await fetch(`${url}/anthropic/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status;
/** Every replica answers `status` for this token. */
const everyReplica = async (token: string, status: number) => (await Promise.all(tenant.proxies.map((u) => statusOn(u, token)))).every((s) => s === status);

/** Polls every 25 ms; the elapsed ms, or a failure after `limitMs`. */
async function within(limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`);
    await Bun.sleep(25);
  }
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-admin-cli-"));
  tenant = await startTenant(["--replicas", "2", "--state", `sqlite:${join(dir, "state.db")}`, "--admin-group", ADMIN_GROUP, "--user", `demo:${PASSWORDS.demo}:developers`, "--user", `carol:${PASSWORDS.carol}:developers`, "--user", `admin:${PASSWORDS.admin}:${ADMIN_GROUP}`, "--user", `${DEV}:${PASSWORDS.dev}:developers`]);
  expect(tenant.proxies).toHaveLength(2);
  expect(tenant.users.find((u) => u.username === "admin")?.groups).toContain(ADMIN_GROUP);
  await signIn("admin", PASSWORDS.admin);
  await signIn("demo", PASSWORDS.demo);
  await signIn("carol", PASSWORDS.carol);
  homes[DEV] = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", CI: "1", ...scriptedBrowser(DEV, PASSWORDS.dev) });
  const login = await runCli(["login", tenant.tenant], { ...homes[DEV]!, CI: "" });
  expect(login.code, login.stderr).toBe(0);
}, 90_000);

afterAll(async () => {
  await tenant?.stop();
});

describe("usage report and self-service", () => {
  const body = messageBody();
  const expected = stubUsage(body);

  test("admin usage --json: demo's row equals what the stub reported (cache tokens included), over both replicas", async () => {
    const token = await tokenOf("demo");
    for (const url of tenant.proxies) {
      const r = await post(url, token, body);
      expect(r.status).toBe(200);
      const usage = ((await r.json()) as { usage: Record<string, number> }).usage;
      expect(usage).toMatchObject({ input_tokens: expected.input_tokens, cache_read_input_tokens: expected.cache_read_input_tokens, cache_creation_input_tokens: expected.cache_creation_input_tokens });
    }
    let rows: Record<string, unknown>[] = [];
    await within(5000, async () => {
      const r = await cli("admin", ["admin", "usage", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      rows = JSON.parse(r.stdout);
      return rows.some((row) => row.user === "demo" && row.requests === 2);
    });
    const demo = rows.find((row) => row.user === "demo")!;
    expect(demo).toMatchObject({
      requests: 2,
      input_tokens: 2 * expected.input_tokens,
      cache_creation_input_tokens: 2 * expected.cache_creation_input_tokens,
      cache_read_input_tokens: 2 * expected.cache_read_input_tokens,
    });
    expect(expected.cache_read_input_tokens).toBeGreaterThan(0);
    expect(demo.output_tokens).toBeGreaterThan(0);
    expect(demo.cost_usd).toBeGreaterThan(0);
  });

  test("admin usage --csv: a header and demo's figures", async () => {
    const r = await cli("admin", ["admin", "usage", "--csv", "--by", "user"]);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...lines] = r.stdout.trim().split(/\r?\n/);
    const columns = header!.split(",");
    expect(columns.slice(0, 1)).toEqual(["user"]);
    const demo = lines.map((l) => l.split(",")).find((cells) => cells[0] === "demo")!;
    const at = (name: string) => Number(demo[columns.indexOf(name)]);
    expect([at("requests"), at("cache_read_input_tokens"), at("cache_creation_input_tokens")]).toEqual([2, 2 * expected.cache_read_input_tokens, 2 * expected.cache_creation_input_tokens]);
  });

  test("usage --json for the person; usage --status-line: one line, the second from the cache (0600 file)", async () => {
    const me = await cli("demo", ["usage", "--json"]);
    expect(me.code, me.stderr).toBe(0);
    expect(JSON.parse(me.stdout).today).toMatchObject({ requests: 2, cache_read_input_tokens: 2 * expected.cache_read_input_tokens });
    const first = await cli("demo", ["usage", "--status-line"]);
    // served from the cache: it does not even open the store (a `pass` store that cannot work here)
    const second = await runCli(["usage", "--status-line", "--store", "pass"], { ...homes.demo!, PASSWORD_STORE_DIR: "/nonexistent", GNUPGHOME: "/nonexistent" });
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(first.stdout).toMatch(/^\$\d+\.\d+ today · \$\d+\.\d+ this month\n$/);
    expect(second.stdout).toBe(first.stdout);
    const cache = join(homes.demo!.XDG_STATE_HOME!, "agent-runner-auth", "status-line", "default.json");
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    console.log(`usage --status-line: first ${Math.round(first.ms)} ms (gateway), second ${Math.round(second.ms)} ms (cache)`);
    expect(second.ms).toBeLessThan(1000);
  });

  test("a person outside the admin group: exit 1, 'not in the admin group'", async () => {
    const r = await cli("demo", ["admin", "usage"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not in the admin group");
    expect(r.stderr).toContain(ADMIN_GROUP);
  });
});

describe("budgets, limits, revocation", () => {
  test("budget set --usd 0.000001: demo's next request is refused naming the budget; budget clear lets it through", async () => {
    const set = await cli("admin", ["admin", "budget", "set", "--user", "demo", "--period", "day", "--usd", "0.000001"]);
    expect(set.code, set.stderr).toBe(0);
    const token = await tokenOf("demo");
    const refused = await post(tenant.proxies[1]!, token, messageBody());
    const error = (await refused.json()) as { type: string; error: { type: string; message: string } };
    expect(refused.status).toBe(403);
    expect(error.type).toBe("error");
    expect(error.error.type).toBe("permission_error");
    expect(error.error.message).toContain("daily budget");
    expect(error.error.message).toContain("resets");
    const cleared = await cli("admin", ["admin", "budget", "clear", "--user", "demo", "--period", "day"]);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stderr).toContain("Cleared 1 budget");
    expect((await post(tenant.proxies[1]!, token, messageBody())).status).toBe(200);
  });

  test("limit set --rpm 1: the second request in the minute gets 429 with retry-after; limit clear", async () => {
    const set = await cli("admin", ["admin", "limit", "set", "--user", "demo", "--rpm", "1"]);
    expect(set.code, set.stderr).toBe(0);
    const token = await tokenOf("demo");
    const statuses: Response[] = [];
    for (const url of [tenant.proxies[0]!, tenant.proxies[1]!]) statuses.push(await post(url, token, messageBody()));
    const limited = statuses.find((r) => r.status === 429)!;
    expect(limited).toBeDefined();
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: { type: string } }).error.type).toBe("rate_limit_error");
    const list = await cli("admin", ["admin", "limit", "list", "--json"]);
    expect(JSON.parse(list.stdout)).toContainEqual({ user: "demo", rpm: 1 });
    expect((await cli("admin", ["admin", "limit", "clear", "--user", "demo"])).code).toBe(0);
  });

  test("revoke --user demo: 401 from every replica within 2 s; restore: 200 again", async () => {
    const token = await tokenOf("demo");
    expect(await everyReplica(token, 200)).toBe(true);
    const revoke = await cli("admin", ["admin", "revoke", "--user", "demo", "--reason", "e2e"]);
    expect(revoke.code, revoke.stderr).toBe(0);
    const ms = await within(2000, () => everyReplica(token, 401));
    expect(revoke.stderr).toContain("It matches 1 person seen by the gateway:");
    expect(revoke.stderr).toContain("username demo");
    const listed = await cli("admin", ["admin", "revocations", "--json"]);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ kind: "user", value: "demo", reason: "e2e" }));
    const restore = await cli("admin", ["admin", "restore", "--user", "demo"]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toContain("Restored demo: lifted user (any of sub, username, e-mail) demo, sub ");
    await within(2000, () => everyReplica(token, 200));
    console.log(`admin revoke: 401 on both replicas after ${Math.round(ms)} ms (from the command's exit)`);
  });

  test("revoke --user with a username that looks like an e-mail: matched by username (their e-mail is another), 401 person_revoked everywhere within 2 s; restore", async () => {
    const token = await tokenOf(DEV);
    expect(await everyReplica(token, 200)).toBe(true);
    await Bun.sleep(200); // the gateway notes the people it sees just after answering
    const revoke = await cli("admin", ["admin", "revoke", "--user", DEV]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stderr).toContain(`Revoked user (any of sub, username, e-mail) ${DEV}`);
    expect(revoke.stderr).toMatch(new RegExp(`username ${DEV.replace(".", "\\.")}, .*sub [0-9a-f-]{36}; matched by username`));
    const ms = await within(2000, () => everyReplica(token, 401));
    const refused = await fetch(`${tenant.proxies[1]}/anthropic/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    expect(refused.headers.get("x-agent-runner-reason")).toBe("person_revoked");
    const restore = await cli("admin", ["admin", "restore", "--user", DEV]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toContain(`Restored ${DEV}: lifted`);
    const back = await within(2000, () => everyReplica(token, 200));
    console.log(`admin revoke --user ${DEV} (a username): 401 on both replicas after ${Math.round(ms)} ms; restore: 200 after ${Math.round(back)} ms`);
  });

  test("revoke --user someone the gateway has never seen: it says so, and that it applies when they first appear; restore says what it lifted", async () => {
    const revoke = await cli("admin", ["admin", "revoke", "--user", "nobody-yet@example.com"]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stderr).toContain("no token seen for nobody-yet@example.com");
    expect(revoke.stderr).toContain("revoked anyway: it applies when they first appear");
    expect(revoke.stderr).not.toContain("refuses their tokens");
    const restore = await cli("admin", ["admin", "restore", "--user", "nobody-yet@example.com"]);
    expect(restore.stderr).toContain("Restored nobody-yet@example.com: lifted user (any of sub, username, e-mail) nobody-yet@example.com");
    const again = await cli("admin", ["admin", "restore", "--user", "nobody-yet@example.com"]);
    expect(again.stderr).toContain("No revocation of nobody-yet@example.com was in force: nothing lifted.");
  });
});

describe("logout", () => {
  test("a copy of the old access token gets 401 from every replica within 2 s of logout", async () => {
    const copy = await tokenOf("carol");
    expect(await everyReplica(copy, 200)).toBe(true);
    const out = await cli("carol", ["logout"]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain("the session was ended at the gateway");
    expect(out.stderr).toContain("Logged out of");
    const ms = await within(2000, () => everyReplica(copy, 401));
    // the other people's sessions keep working
    expect(await everyReplica(await tokenOf("demo"), 200)).toBe(true);
    console.log(`logout: a copied access token refused by both replicas ${Math.round(ms)} ms after the command exited`);
  });
});
