/**
 * The admin console as the gateway serves it: the REAL local tenant (`src/tenant/main.ts`: the
 * IdP with the console's own app client registered, the gateway, the stub upstream; state in a
 * SQLite file), real Chromium signing in on the tenant's login page, the REAL built binary for
 * `admin …`. An admin gets the console, anyone else `forbidden`; the console API refuses a missing
 * cookie, a wrong CSRF token, a non-admin and a bearer token; the console's own token is no API
 * credential; a budget set in the console is the one `admin budget list` shows, and is in
 * `admin audit`; the tenant policy's pooled budget is shown read-only; revoking in the console makes the gateway answer 401 on /anthropic/ within 2 s;
 * the overview's and the people table's figures equal `admin usage --json` for the same range;
 * axe-core finds no serious or critical violation on any view, light or dark. Under `--workers 2`
 * the supervisor's one bundle is what every worker serves.
 * (test/e2e/console-browser.test.ts covers a year of seeded roll-ups over the harness.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { addDays, type ConsoleErrorBody, CSRF_HEADER, dayOf } from "../../src/shared/console-api.ts";
import { money } from "../../src/proxy/console/ui/format.ts";
import { subjectOf } from "../../src/tenant/idp.ts";
import { CONSOLE_CLIENT_ID } from "../../src/tenant/tenant.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser, type CliResult } from "../support/cli.ts";
import { axeFindings, ConsoleBrowser, consoleViews, cookieHeader, launchChromium, setBudgetInConsole } from "../support/console-browser.ts";
import { messageBody, post } from "../support/gateway.ts";
import { tenantAccessToken } from "../support/http-login.ts";
import { randomPort } from "../support/ports.ts";
import { ROOT, startTenant, type TenantProcess } from "../support/tenant.ts";

const ADMIN_GROUP = "console-admins";
const PASSWORDS = { admin: "admin-password-1", demo: "demo-password-1" } as const;

let tenant: TenantProcess;
let browser: Browser;
let cb: ConsoleBrowser;
let adminHome: Record<string, string>;
let demoToken: string;
let adminToken: string;

const admin = (args: string[]): Promise<CliResult> => runCli(["admin", ...args], adminHome);
const anthropicStatus = async (token: string) => (await fetch(`${tenant.tenant}/anthropic/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-console-gw-"));
  // the tenant policy's pooled budget and limit of a group: shown in the console, read-only
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, "groups:\n  developers:\n    budgets:\n      - { period: month, usd: 2000, pool: true }\n    limits: { rpm: 600, pool: true }\n");
  tenant = await startTenant(["--state", `sqlite:${join(dir, "state.db")}`, "--admin-group", ADMIN_GROUP, "--policy", policy]);
  expect(tenant.console).toBe(`${tenant.tenant}/_gateway/console/`);
  browser = await launchChromium();
  cb = new ConsoleBrowser(browser, tenant.console);
  adminHome = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", CI: "1", ...scriptedBrowser("admin", PASSWORDS.admin) });
  const login = await runCli(["login", tenant.tenant], { ...adminHome, CI: "" });
  expect(login.code, login.stderr).toBe(0);
  demoToken = await tenantAccessToken(tenant, "demo", PASSWORDS.demo);
  adminToken = await tenantAccessToken(tenant, "admin", PASSWORDS.admin);
  // some traffic through the gateway: 3 requests of demo's, 2 of admin's
  for (const token of [demoToken, demoToken, demoToken, adminToken, adminToken]) expect((await post(tenant.tenant, token, messageBody())).status).toBe(200);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await tenant?.stop();
});

describe("the console served by the gateway", () => {
  let adminContext: BrowserContext;
  let page: Page;
  beforeAll(async () => {
    adminContext = await cb.newContext();
    page = await cb.signIn(adminContext, "admin", PASSWORDS.admin);
    await page.waitForSelector("[data-testid=overview]");
  }, 60_000);

  test("/_gateway/console is sent to /_gateway/console/ (308); the page and its files come from the gateway with the strict CSP", async () => {
    const r = await fetch(tenant.console.slice(0, -1), { redirect: "manual" });
    expect(r.status).toBe(308);
    expect(r.headers.get("location")).toBe("/_gateway/console/");
    const index = await fetch(tenant.console);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await index.text();
    const script = /src="(assets\/console-[\w-]+\.js)"/.exec(html)?.[1];
    expect(script).toBeString();
    const js = await fetch(`${tenant.console}${script}`, { headers: { "accept-encoding": "br" } });
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toContain("immutable");
  });

  test("after requests through the gateway, the overview's and the people table's figures equal admin usage --json for the same range", async () => {
    const today = dayOf(Date.now());
    const from = addDays(today, -29);
    const usage = await admin(["usage", "--json", "--since", from, "--until", today, "--by", "user"]);
    expect(usage.code, usage.stderr).toBe(0);
    const rows = JSON.parse(usage.stdout) as { user: string; requests: number; cost_usd: number }[];
    expect(rows.find((r) => r.user === "demo")?.requests).toBe(3);
    expect(rows.find((r) => r.user === "admin")?.requests).toBe(2);
    const totalMicro = rows.reduce((s, r) => s + Math.round(r.cost_usd * 1e6), 0);
    await page.goto(`${tenant.console}#/overview`);
    await page.waitForSelector("[data-testid=overview] [data-testid=spend-range]");
    expect(await page.textContent("[data-testid=spend-range] .card-value")).toBe(money(totalMicro));
    // this month's cards against admin usage's default range (the 1st of this month to today)
    const month = await admin(["usage", "--json", "--by", "user"]);
    expect(month.code, month.stderr).toBe(0);
    const monthRows = JSON.parse(month.stdout) as typeof rows;
    expect(await page.textContent("[data-testid=requests-month] .card-value")).toBe(monthRows.reduce((n, r) => n + r.requests, 0).toLocaleString("en-US"));
    expect(await page.textContent("[data-testid=spend-month] .card-value")).toBe(money(monthRows.reduce((n, r) => n + Math.round(r.cost_usd * 1e6), 0)));
    await page.goto(`${tenant.console}#/people`);
    await page.waitForSelector("[data-testid=people-table] tbody tr[data-testid^=person-row-]");
    expect(await page.locator("[data-testid=people-table] tbody tr").count()).toBe(rows.length);
    for (const row of rows) {
      const shown = page.locator(`[data-testid=person-row-${row.user}]`);
      expect(await shown.locator("[data-testid=requests]").textContent()).toBe(row.requests.toLocaleString("en-US"));
      expect(Number(await shown.locator("[data-testid=cost]").getAttribute("data-value"))).toBeCloseTo(row.cost_usd, 6);
    }
    // the gateway's request lines for the console's API calls (session, overview, people…) name the
    // admin who made them; the page's files are served to anyone and name nobody
    const consoleLines = tenant.stderr().split("\n").filter((l) => l.includes('"route":"console"') && l.includes('"status":200')).map((l) => JSON.parse(l) as { username?: string });
    const named = consoleLines.filter((l) => l.username !== undefined);
    expect(named.length).toBeGreaterThanOrEqual(3);
    expect(named.every((l) => l.username === "admin")).toBe(true);
  }, 60_000);

  test("a budget set in the console is the one admin budget list shows, and it is in admin audit as the console's admin", async () => {
    await setBudgetInConsole(page, tenant.console, { user: "demo", period: "month", usd: "12.5" });
    // the policy file's pooled budget beside it: read-only (no Clear), its source named
    const fromPolicy = page.locator("[data-testid=budget-row-group-developers-month-usd]");
    expect(await fromPolicy.textContent()).toContain("policy file (read-only)");
    expect(await fromPolicy.locator("button:has-text('Clear')").count()).toBe(0);
    const list = await admin(["budget", "list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ user: "demo", period: "month", unit: "usd", limit: 12.5, soft: false })]);
    const audit = await admin(["audit", "--json"]);
    expect(audit.code, audit.stderr).toBe(0);
    const rows = JSON.parse(audit.stdout) as { action: string; target: string; actor: string; actor_sub?: string; new: unknown }[];
    // the admin as their access token names them (the username: Cognito's access tokens carry no e-mail), with their sub
    expect(rows.find((r) => r.action === "budget.set" && r.target === "user demo")).toMatchObject({ actor: "admin", actor_sub: subjectOf("admin"), old: null, new: { user: "demo", period: "month", unit: "usd", limit: 12.5, soft: false } });
    // the console's audit view reads the same log
    await page.goto(`${tenant.console}#/audit`);
    await page.waitForSelector("main table :text('budget.set')");
    // cleared in the console: gone from the admin API too, and audited
    await page.goto(`${tenant.console}#/budgets`);
    await page.click("[data-testid=budget-row-user-demo-month-usd] button:has-text('Clear')");
    await page.waitForSelector("text=Cleared 1 budget");
    expect(JSON.parse((await admin(["budget", "list", "--json"])).stdout)).toEqual([]);
    expect((JSON.parse((await admin(["audit", "--json"])).stdout) as { action: string }[]).some((r) => r.action === "budget.clear")).toBe(true);
  }, 60_000);

  test("revoke in the console: the gateway answers 401 on /anthropic/ within 2 s; restore lets the person back", async () => {
    expect(await anthropicStatus(demoToken)).toBe(200);
    await page.goto(`${tenant.console}#/people/${subjectOf("demo")}`);
    await page.click("[data-testid=revoke-demo]");
    const clicked = performance.now();
    let status = 0;
    while (performance.now() - clicked < 2000) {
      status = await anthropicStatus(demoToken);
      if (status === 401) break;
      await Bun.sleep(50);
    }
    expect(status).toBe(401);
    console.log(`revoke in the console → 401 on /anthropic/ after ${Math.round(performance.now() - clicked)} ms`);
    // the admin CLI sees the revocation the console made (by demo's sub, as the person's page names them)
    const revocations = await admin(["revocations", "--json"]);
    expect(revocations.stdout).toContain(subjectOf("demo"));
    await page.waitForSelector("[data-testid=restore-demo]");
    await page.click("[data-testid=restore-demo]");
    await page.waitForSelector("[data-testid=revoke-demo]");
    const restored = performance.now();
    while (performance.now() - restored < 2000 && (await anthropicStatus(demoToken)) !== 200) await Bun.sleep(50);
    expect(await anthropicStatus(demoToken)).toBe(200);
  }, 60_000);

  test("someone outside the admin group sees forbidden naming the group; the API refuses them, a missing cookie, a wrong CSRF token and a bearer token", async () => {
    const context = await cb.newContext();
    const outsider = await cb.signIn(context, "demo", PASSWORDS.demo);
    await outsider.waitForSelector("[data-testid=forbidden]");
    expect(await outsider.textContent("[data-testid=forbidden]")).toContain(ADMIN_GROUP);
    const nonAdmin = await fetch(`${tenant.console}api/people`, { headers: { cookie: await cookieHeader(context) } });
    expect(nonAdmin.status).toBe(403);
    expect(((await nonAdmin.json()) as ConsoleErrorBody).error.type).toBe("forbidden");
    await context.close();

    expect((await fetch(`${tenant.console}api/overview`)).status).toBe(401);
    // the CLI's access token of an admin is an API credential, not a console session
    expect((await fetch(`${tenant.console}api/overview`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(401);
    const cookie = await cookieHeader(adminContext);
    const session = (await (await fetch(`${tenant.console}api/session`, { headers: { cookie } })).json()) as { csrf_token: string };
    const put = (csrf: string) => fetch(`${tenant.console}api/limits`, { method: "PUT", headers: { cookie, "content-type": "application/json", [CSRF_HEADER]: csrf }, body: JSON.stringify({ kind: "group", id: "ml", rpm: 30 }) });
    const wrong = await put("A".repeat(43));
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as ConsoleErrorBody).error.type).toBe("bad_csrf");
    expect(JSON.parse((await admin(["limit", "list", "--json"])).stdout)).toEqual([]);
    expect((await put(session.csrf_token)).status).toBe(200);
    expect(JSON.parse((await admin(["limit", "list", "--json"])).stdout)).toEqual([expect.objectContaining({ group: "ml", rpm: 30 })]);
    expect((await admin(["limit", "clear", "--group", "ml"])).code).toBe(0);
  }, 60_000);

  test("the console's own access token is not an API credential: /anthropic/ refuses it", async () => {
    const consoleToken = await tenantAccessToken(tenant, "admin", PASSWORDS.admin, { clientId: CONSOLE_CLIENT_ID, redirectUri: `${tenant.console}callback` });
    expect(await anthropicStatus(consoleToken)).toBe(401);
    expect(await anthropicStatus(adminToken)).toBe(200);
  }, 30_000);

  test("axe-core: no serious or critical violation on any view, light and dark, nor on the forbidden and signed-out pages", async () => {
    const found: string[] = [];
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const view of consoleViews(subjectOf("demo"))) {
        await page.goto(`${tenant.console}${view}`);
        await page.waitForSelector("main h2");
        await page.waitForLoadState("networkidle");
        found.push(...(await axeFindings(page)).map((v) => `${scheme} ${view}: ${v}`));
      }
    }
    const context = await cb.newContext();
    const outsider = await cb.signIn(context, "demo", PASSWORDS.demo);
    await outsider.waitForSelector("[data-testid=forbidden]");
    for (const scheme of ["light", "dark"] as const) {
      await outsider.emulateMedia({ colorScheme: scheme });
      found.push(...(await axeFindings(outsider)).map((v) => `${scheme} forbidden: ${v}`));
    }
    await outsider.click("[data-testid=forbidden] button");
    await outsider.waitForURL((u) => u.search.includes("signed_out"), { timeout: 15_000 });
    await outsider.waitForSelector("[data-testid=signed-out]");
    found.push(...(await axeFindings(outsider)).map((v) => `signed out: ${v}`));
    await context.close();
    expect(found).toEqual([]);
    expect(cb.cspViolations).toEqual([]);
    expect(cb.foreignRequests).toEqual([]);
  }, 120_000);
});

describe("the console under --workers", () => {
  test("the supervisor builds the bundle once and hands it to every worker: each serves the same files; its directory goes with it", async () => {
    const port = randomPort();
    const stateFile = join(mkdtempSync(join(tmpdir(), "ara-console-workers-")), "state.db");
    const child = Bun.spawn([process.execPath, join(ROOT, "src/proxy/main.ts"), "--workers", "2", "--issuer", tenant.issuer, "--client-id", tenant.client_id, "--upstream", tenant.upstream as string, "--upstream-key-env", "STUB_KEY",
      "--host", "127.0.0.1", "--port", String(port), "--metrics-port", "off", "--state", `sqlite:${stateFile}`,
      // the IdP knows the tenant gateway's callback only: enough to serve the console, not to sign in here
      "--console-client-id", CONSOLE_CLIENT_ID, "--console-redirect-uri", `${tenant.console}callback`], { env: { ...process.env, STUB_KEY: tenant.upstream_key as string }, stdout: "ignore", stderr: "ignore" });
    try {
      const url = `http://127.0.0.1:${port}/_gateway/console/`;
      let status = 0;
      for (let i = 0; i < 300 && status !== 200; i++) {
        status = await fetch(url).then((r) => r.status, () => 0);
        if (status !== 200) await Bun.sleep(100);
      }
      expect(status).toBe(200);
      const workers = Bun.spawnSync(["pgrep", "-P", String(child.pid)]).stdout.toString().trim().split("\n").filter(Boolean);
      expect(workers).toHaveLength(2);
      const dirs = new Set(workers.map((pid) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").find((v) => v.startsWith("AGENT_RUNNER_PROXY_CONSOLE_ASSETS="))));
      expect(dirs.size).toBe(1);
      const dir = [...dirs][0]?.split("=")[1] as string;
      expect(existsSync(dir)).toBe(true);
      // new connections reach either worker: both answer the same index (same hashed names, same ETag)
      const etags = new Set<string | null>();
      for (let i = 0; i < 20; i++) etags.add((await fetch(url, { headers: { connection: "close" } })).headers.get("etag"));
      expect(etags.size).toBe(1);
      child.kill("SIGTERM");
      await child.exited;
      expect(existsSync(dir)).toBe(false);
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
