/**
 * The CLI's gateway layer (src/cli/gateway) against the real proxy of the local tenant, with
 * access tokens from real sign-ins (the built binary, the scripted browser, the tenant's IdP):
 * logout ends the session at the proxy within 2 s (an older server only warns), `usage` shows the
 * token counts the upstream reported, the admin usage report as an admin-group member and with
 * the admin key (a second proxy process on the same SQLite state), 403 naming the admin group for
 * anyone else, and budget / revocation round trips through the admin client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readAdminKeyFile } from "../../src/cli/gateway/admin-key.ts";
import { parseAdminCommand, runAdmin } from "../../src/cli/gateway/admin-commands.ts";
import { createGatewayClient, endpointsFromDiscovery, type AdminCredential } from "../../src/cli/gateway/client.ts";
import { GatewayError } from "../../src/cli/gateway/errors.ts";
import { endSessionAtGateway } from "../../src/cli/gateway/logout.ts";
import { discoveryUrlFor } from "../../src/shared/tenant-discovery.ts";
import { ExitCode } from "../../src/cli/errors.ts";
import { parseArgs } from "../../src/cli/args.ts";
import { gatewayCommand } from "../../src/cli/gateway/admin-commands.ts";
import { ADMIN_KEY, messageBody, post, startProxyProcess, type ProxyProcess } from "../support/gateway.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

const ADMIN_GROUP = "gateway-admins";
const USERS = { alice: "alice-password-1", bob: "bob-password-1", carol: "carol-password-1" } as const;
type Who = keyof typeof USERS;

let tenant: TenantProcess;
let keyed: ProxyProcess;
let dir: string;
const tokens = {} as Record<Who, string>;

/** A real sign-in through the login page, then `token`: the access token Claude Code would send. */
async function signIn(who: Who): Promise<string> {
  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(who, USERS[who]) });
  const login = await runCli(["login", tenant.tenant], env);
  expect(login.code, login.stderr).toBe(0);
  const token = await runCli(["token"], env);
  expect(token.code, token.stderr).toBe(0);
  return token.stdout.trim();
}

const client = (url = tenant.tenant) => createGatewayClient({ tenantUrl: url });
const asUser = (who: Who): AdminCredential => ({ kind: "token", accessToken: async () => tokens[who] });
const models = (token: string, url = tenant.tenant) => fetch(`${url}/anthropic/v1/models`, { headers: { authorization: `Bearer ${token}` } });
/** The second process forwards nowhere useful (its upstream key is a dummy): ask it for usage, which checks the denylist too. */
const meStatus = async (token: string, url: string) => (await fetch(`${url}/_gateway/v1/me/usage`, { headers: { authorization: `Bearer ${token}` } })).status;

async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await Bun.sleep(50);
  }
  return performance.now() - started;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ara-gw-cli-"));
  const state = `sqlite:${join(dir, "state.db")}`;
  // slug "default": what a single-tenant proxy process calls its tenant, so both read one ledger
  tenant = await startTenant(["--slug", "default", "--admin-group", ADMIN_GROUP, "--state", state, "--user", `alice:${USERS.alice}:developers,${ADMIN_GROUP}`, "--user", `bob:${USERS.bob}:developers`, "--user", `carol:${USERS.carol}:developers`]);
  // the local tenant has no admin key option: a second real proxy process on the same state has one
  const adminKeyFile = join(dir, "admin-key");
  const upstreamKeyFile = join(dir, "upstream-key");
  writeFileSync(adminKeyFile, `${ADMIN_KEY}\n`, { mode: 0o600 });
  writeFileSync(upstreamKeyFile, "sk-ant-unused", { mode: 0o600 });
  keyed = await startProxyProcess({ issuer: tenant.issuer, upstream: tenant.upstream!, state, adminKeyFile, upstreamKeyFile });
  for (const who of Object.keys(USERS) as Who[]) tokens[who] = await signIn(who);
}, 60_000);

afterAll(async () => {
  await keyed?.stop();
  await tenant?.stop();
});

describe("usage", () => {
  test("after a request, `usage` shows the token counts the upstream reported, cache tokens included", async () => {
    const response = await post(tenant.tenant, tokens.bob, messageBody());
    expect(response.status).toBe(200);
    const reported = ((await response.json()) as { usage: Record<string, number> }).usage;
    expect(reported.cache_read_input_tokens).toBeGreaterThan(0);
    let me = await client().myUsage(tokens.bob);
    await within(2000, async () => (me = await client().myUsage(tokens.bob)).today.requests === 1);
    expect(me.today).toMatchObject({
      requests: 1,
      input_tokens: reported.input_tokens,
      output_tokens: reported.output_tokens,
      cache_creation_input_tokens: reported.cache_creation_input_tokens,
      cache_read_input_tokens: reported.cache_read_input_tokens,
    });
    expect(me.month.requests).toBe(1);
    expect(me.today.cost_usd).toBeGreaterThan(0);
    expect(me.groups).toEqual(["developers"]);
  });
});

describe("admin", () => {
  test("the usage report as an admin-group member (their own sign-in) and with the admin key agree", async () => {
    const byGroup = await client().admin(asUser("alice")).usage({ format: "json" });
    const byKey = await client(keyed.url).admin({ kind: "admin_key", key: readAdminKeyFile(join(dir, "admin-key")) }).usage({ format: "json" });
    if (byGroup.format !== "json" || byKey.format !== "json") throw new Error("JSON asked");
    const bob = byGroup.rows.find((r) => r.key === "bob");
    expect(bob?.requests).toBeGreaterThanOrEqual(1);
    expect(bob?.cache_read_input_tokens).toBeGreaterThan(0);
    expect(byKey.rows.find((r) => r.key === "bob")).toEqual(bob!);
    const csv = await client(keyed.url).admin({ kind: "admin_key", key: readAdminKeyFile(join(dir, "admin-key")) }).usage({ format: "csv", by: "model" });
    if (csv.format !== "csv") throw new Error("CSV asked");
    expect(csv.csv.split("\r\n")[0]).toStartWith("model,requests,input_tokens,output_tokens");
  });

  test("403 for a signed-in person outside the admin group: not_admin, exit 1, the group named", async () => {
    const e = await client().admin(asUser("bob")).usage({ format: "json" }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe("not_admin");
    expect((e as GatewayError).exitCode).toBe(ExitCode.authRequired);
    expect((e as GatewayError).message).toContain(ADMIN_GROUP);
  });

  test("a wrong admin key: unauthenticated, exit 1, the key named in no message", async () => {
    const wrong = join(dir, "wrong-key");
    writeFileSync(wrong, "wrongkey-0123456789abcdef0123456789abcdef", { mode: 0o600 });
    const e = (await client(keyed.url).admin({ kind: "admin_key", key: readAdminKeyFile(wrong) }).listBudgets().catch((x: unknown) => x)) as GatewayError;
    expect([e.code, e.exitCode]).toEqual(["unauthenticated", ExitCode.authRequired]);
    expect(`${e.message} ${e.hint}`).not.toContain("wrongkey-0123");
  });

  test("parsed commands round trip: budget set shows in the person's usage, revoke cuts them off within 2 s, restore lets them back", async () => {
    const admin = client().admin(asUser("alice"));
    const run = (line: string) => {
      const words = line.split(" ");
      const spec = [3, 2].map((n) => gatewayCommand(["admin", ...words.slice(0, n)])).find(Boolean) ?? gatewayCommand(["admin", words[0]!])!;
      return runAdmin(admin, parseAdminCommand(spec.path.slice(1), parseArgs(words.slice(spec.path.length - 1), spec.options, spec.name)));
    };
    await run("budget set --user bob --period day --usd 5");
    const me = await client().myUsage(tokens.bob);
    expect(me.budgets).toContainEqual(expect.objectContaining({ subject: { user: "bob" }, period: "day", unit: "usd", limit: 5 }));
    expect(me.budgets[0]!.remaining).toBeLessThan(5);

    await run("revoke --user bob --reason test");
    const cutOff = await within(2000, async () => (await models(tokens.bob)).status === 401);
    const listed = await run("revocations");
    // by any identifier ("user"), and by the sub of the person the gateway had seen as bob
    expect(listed.op === "revocations" && listed.revocations.map((r) => [r.kind, r.value, r.reason]).sort()).toEqual([["sub", me.sub, "test"], ["user", "bob", "test"]]);
    await run("restore --user bob");
    await within(2000, async () => (await models(tokens.bob)).status === 200);
    await run("budget clear --user bob --period day");
    expect((await client().myUsage(tokens.bob)).budgets).toEqual([]);
    console.log(`revocation seen after ${Math.round(cutOff)} ms`);
  });
});

describe("logout at the gateway", () => {
  test("the stored access token is denylisted within 2 s; other people's sessions keep working", async () => {
    // both processes have just answered "not revoked" for this token (and cache that for up to 1 s)
    expect((await models(tokens.carol)).status).toBe(200);
    expect(await meStatus(tokens.carol, keyed.url)).toBe(200);
    const discovery = await (await fetch(discoveryUrlFor(tenant.tenant))).json();
    const endpoints = endpointsFromDiscovery(discovery);
    expect(endpoints.logout).toBe(`${tenant.tenant}/_gateway/v1/logout`);
    const started = performance.now();
    const outcome = await endSessionAtGateway({ tenantUrl: tenant.tenant, endpoints, accessToken: tokens.carol }, { now: Date.now });
    expect(outcome.kind).toBe("ended");
    await within(2000, async () => (await models(tokens.carol)).status === 401);
    const ms = performance.now() - started;
    // on the other proxy process too (shared state, its own 1 s denylist cache), and not for bob
    await within(2000 - ms, async () => (await meStatus(tokens.carol, keyed.url)) === 401);
    const other = performance.now() - started;
    expect((await models(tokens.bob)).status).toBe(200);
    console.log(`logout to 401: ${Math.round(ms)} ms on the tenant's proxy, ${Math.round(other)} ms on the other process`);
    // the person's next `usage` says to sign in again
    const e = (await client().myUsage(tokens.carol).catch((x: unknown) => x)) as GatewayError;
    expect([e.code, e.exitCode]).toEqual(["unauthenticated", ExitCode.authRequired]);
  });

  test("a server without the gateway (the IdP's origin, like an older proxy): a warning, never a failure", async () => {
    const outcome = await endSessionAtGateway({ tenantUrl: new URL(tenant.issuer).origin, accessToken: tokens.alice }, { now: Date.now });
    expect(outcome).toMatchObject({ kind: "warning", code: "no_gateway_api" });
  });
});
