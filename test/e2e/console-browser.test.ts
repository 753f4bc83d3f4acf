/**
 * The admin console in a real browser: Debian's Chromium through playwright-core, signing in on
 * the local tenant's real IdP (authorization code + PKCE, the console's own app client), the
 * console server module over a real SQLite state store and roll-ups seeded with known records.
 * The figures shown must equal those records summed directly; changes made in the page must
 * reach the store; everyone outside the admin groups sees `forbidden`; the API refuses what it
 * must; axe-core finds no serious or critical violation on any view, light or dark; the strict
 * CSP is never violated and nothing is fetched from another origin.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { addDays, type ConsoleErrorBody, CSRF_HEADER, usd } from "../../src/shared/console-api.ts";
import { money } from "../../src/proxy/console/ui/format.ts";
import type { RollupRecord } from "../../src/proxy/rollup/types.ts";
import { subjectOf } from "../../src/tenant/idp.ts";
import { ADMIN_GROUP, type ConsoleHarness, HARNESS_USERS, startConsoleHarness, TENANT } from "../support/console-harness.ts";

const AXE = readFileSync(join(import.meta.dir, "..", "..", "node_modules", "axe-core", "axe.min.js"), "utf8");

let harness: ConsoleHarness;
let browser: Browser;
const cspViolations: string[] = [];
const foreignRequests: string[] = [];

beforeAll(async () => {
  harness = await startConsoleHarness();
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await harness?.stop();
});

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  context.on("console", (m) => m.text().startsWith("CSP violation") && cspViolations.push(m.text()));
  context.on("request", (r) => {
    const host = new URL(r.url()).hostname;
    if (!["127.0.0.1", "localhost"].includes(host)) foreignRequests.push(r.url());
  });
  return context;
}

/** Opens the console, follows "Sign in" to the tenant's login page, signs in, waits to be back. */
async function signIn(context: BrowserContext, username: string): Promise<Page> {
  const user = HARNESS_USERS.find((u) => u.username === username) as (typeof HARNESS_USERS)[number];
  const page = await context.newPage();
  await page.goto(harness.consoleUrl);
  await page.click("[data-testid=signed-out] a.button");
  await page.fill("#username", user.username);
  await page.fill("#password", user.password);
  await page.click("#signin");
  await page.waitForURL((u) => u.href.startsWith(harness.consoleUrl), { timeout: 15_000 });
  return page;
}

interface Sums {
  requests: number;
  cost: number;
}
/** The records summed directly (what `admin usage` would say for the range). */
function sums(records: readonly RollupRecord[], from: string, to: string, key: (r: RollupRecord) => string): Map<string, Sums> {
  const out = new Map<string, Sums>();
  for (const r of records) {
    const day = new Date(r.time).toISOString().slice(0, 10);
    if (day < from || day > to) continue;
    const s = out.get(key(r)) ?? { requests: 0, cost: 0 };
    s.requests += 1;
    s.cost += r.costMicroUsd ?? 0;
    out.set(key(r), s);
  }
  return out;
}

const cookieHeader = async (context: BrowserContext) => (await context.cookies()).filter((c) => c.name === "ara_console").map((c) => `${c.name}=${c.value}`).join("; ");

describe("the console in Chromium", () => {
  let admin: BrowserContext;
  let page: Page;
  beforeAll(async () => {
    admin = await newContext();
    page = await signIn(admin, "admin");
  }, 60_000);

  test("the CSP violation detector works (an inline style attribute is reported), so its silence below means something", async () => {
    await page.waitForSelector("[data-testid=overview]");
    await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<div id="csp-probe" style="color: red">probe</div>'));
    for (let i = 0; i < 20 && cspViolations.length === 0; i++) await Bun.sleep(50);
    expect(cspViolations.length).toBeGreaterThan(0);
    expect(cspViolations[0]).toContain("style-src");
    cspViolations.length = 0;
    await page.reload();
  }, 30_000);

  test("an admin signs in with the tenant's IdP; the overview's figures equal the records summed", async () => {
    await page.waitForSelector("[data-testid=overview] [data-testid=spend-range]");
    const today = harness.today;
    const from = addDays(today, -29);
    const all = sums(harness.records, from, today, () => "all").get("all") as Sums;
    const todays = sums(harness.records, today, today, () => "all").get("all") ?? { requests: 0, cost: 0 };
    const month = sums(harness.records, `${today.slice(0, 7)}-01`, today, () => "all").get("all") as Sums;
    expect(await page.textContent("[data-testid=spend-range] .card-value")).toBe(money(all.cost));
    expect(await page.textContent("[data-testid=spend-today] .card-value")).toBe(money(todays.cost));
    expect(await page.textContent("[data-testid=spend-month] .card-value")).toBe(money(month.cost));
    expect(await page.textContent("[data-testid=requests-month] .card-value")).toBe(month.requests.toLocaleString("en-US"));
    // the chart is drawn (uPlot's canvas) and says what it totals
    expect(await page.locator("[data-testid=spend-chart] canvas").count()).toBeGreaterThan(0);
    expect(await page.textContent("[data-testid=spend-chart] figcaption")).toContain(money(all.cost));
    // the top person is the one the records say, with their exact cost
    const byPerson = [...sums(harness.records, from, today, (r) => r.username as string)].sort((a, b) => b[1].cost - a[1].cost);
    const [topName, top] = byPerson[0] as [string, Sums];
    expect(await page.getAttribute("[data-testid=top-people] tbody tr:first-child [data-testid=cost]", "data-value")).toBe(String(usd(top.cost)));
    expect(await page.textContent("[data-testid=top-people] tbody tr:first-child a")).toContain(topName);
  }, 60_000);

  test("people: every person's requests and cost equal the records'; search and sort work", async () => {
    await page.goto(`${harness.consoleUrl}#/people`);
    await page.waitForSelector("[data-testid=people-table] tbody tr[data-testid^=person-row-]");
    const expected = sums(harness.records, addDays(harness.today, -29), harness.today, (r) => r.username as string);
    expect(await page.locator("[data-testid=people-table] tbody tr").count()).toBe(expected.size);
    for (const [username, s] of expected) {
      const row = page.locator(`[data-testid=person-row-${username}]`);
      expect(await row.locator("[data-testid=requests]").textContent()).toBe(s.requests.toLocaleString("en-US"));
      expect(await row.locator("[data-testid=cost]").getAttribute("data-value")).toBe(String(usd(s.cost)));
    }
    await page.fill("input[type=search]", "platform");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=people-table] tbody tr").length === 2);
    expect(await page.locator("[data-testid=person-row-alice]").count()).toBe(1);
    expect(await page.locator("[data-testid=person-row-bob]").count()).toBe(1);
    await page.fill("input[type=search]", "");
    await page.click("[data-testid=people-table] thead button:has-text('Requests')");
    await page.waitForSelector("[data-testid=people-table] th[aria-sort=descending]:has-text('Requests')");
    const most = [...expected].sort((a, b) => b[1].requests - a[1].requests)[0]?.[1].requests;
    expect(await page.textContent("[data-testid=people-table] tbody tr:first-child [data-testid=requests]")).toBe((most as number).toLocaleString("en-US"));
  }, 60_000);

  test("the budget form sets a budget the state store holds; it shows with its burn; clear removes it", async () => {
    await page.goto(`${harness.consoleUrl}#/budgets`);
    await page.waitForSelector("[data-testid=budget-form]");
    await page.fill("[data-testid=budget-user]", "demo");
    await page.selectOption("[data-testid=budget-period]", "month");
    await page.fill("[data-testid=budget-usd]", "12.5");
    await page.click("[data-testid=budget-submit]");
    await page.waitForSelector("[data-testid=budget-row-user-demo-month-usd]");
    expect(await harness.state.listBudgets(TENANT)).toEqual([{ tenant: TENANT, subject: { kind: "user", id: "demo" }, period: "month", unit: "usd", limit: 12_500_000, soft: false }]);
    expect(await page.getAttribute("[data-testid=budget-row-user-demo-month-usd] [data-testid=limit]", "data-value")).toBe("12.5");
    // the people table shows the burn of demo's month against it
    await page.goto(`${harness.consoleUrl}#/people`);
    const month = sums(harness.records, `${harness.today.slice(0, 7)}-01`, harness.today, (r) => r.username as string).get("demo") ?? { requests: 0, cost: 0 };
    const burn = page.locator("[data-testid=person-row-demo] .burn-track");
    await burn.waitFor();
    expect(await burn.getAttribute("aria-label")).toContain(`${((month.cost / 12_500_000) * 100).toFixed(month.cost / 12_500_000 < 0.1 ? 1 : 0)}% of $12.50 monthly`);
    await page.goto(`${harness.consoleUrl}#/budgets`);
    await page.click("[data-testid=budget-row-user-demo-month-usd] button:has-text('Clear')");
    await page.waitForSelector("text=Cleared 1 budget");
    expect(await harness.state.listBudgets(TENANT)).toEqual([]);
  }, 60_000);

  test("revoke on a person's page: their sessions are refused within 2 s; restore lifts it", async () => {
    const demoContext = await newContext();
    const demoPage = await signIn(demoContext, "demo");
    await demoPage.waitForSelector("[data-testid=forbidden]");
    const demoCookie = await cookieHeader(demoContext);
    const sub = subjectOf("demo");
    await page.goto(`${harness.consoleUrl}#/people/${sub}`);
    await page.click("[data-testid=revoke-demo]");
    const clicked = Date.now();
    let status = 0;
    while (Date.now() - clicked < 2000) {
      status = (await fetch(`${harness.consoleUrl}api/session`, { headers: { cookie: demoCookie } })).status;
      if (status === 401) break;
      await Bun.sleep(100);
    }
    expect(status).toBe(401);
    expect(await harness.state.isRevoked(TENANT, { sub })).not.toBeNull();
    await page.waitForSelector("[data-testid=restore-demo]");
    await page.click("[data-testid=restore-demo]");
    await page.waitForSelector("[data-testid=revoke-demo]");
    expect(await harness.state.isRevoked(TENANT, { sub })).toBeNull();
    await demoContext.close();
  }, 60_000);

  test("someone outside the admin groups sees forbidden, naming the group; the API gives them nothing", async () => {
    const context = await newContext();
    const p = await signIn(context, "demo");
    await p.waitForSelector("[data-testid=forbidden]");
    expect(await p.textContent("[data-testid=forbidden]")).toContain(ADMIN_GROUP);
    const r = await fetch(`${harness.consoleUrl}api/people`, { headers: { cookie: await cookieHeader(context) } });
    expect(r.status).toBe(403);
    expect(((await r.json()) as ConsoleErrorBody).error.type).toBe("forbidden");
    await context.close();
  }, 60_000);

  test("the API refuses a missing cookie and a wrong CSRF token; the right one is accepted", async () => {
    expect((await fetch(`${harness.consoleUrl}api/overview`)).status).toBe(401);
    const cookie = await cookieHeader(admin);
    const session = (await (await fetch(`${harness.consoleUrl}api/session`, { headers: { cookie } })).json()) as { csrf_token: string };
    const put = (csrf: string) => fetch(`${harness.consoleUrl}api/limits`, { method: "PUT", headers: { cookie, "content-type": "application/json", [CSRF_HEADER]: csrf }, body: JSON.stringify({ kind: "group", id: "ml", rpm: 30 }) });
    const wrong = await put("A".repeat(43));
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as ConsoleErrorBody).error.type).toBe("bad_csrf");
    expect(await harness.state.listLimits(TENANT)).toEqual([]);
    expect((await put(session.csrf_token)).status).toBe(200);
    expect(await harness.state.listLimits(TENANT)).toEqual([{ tenant: TENANT, subject: { kind: "group", id: "ml" }, rpm: 30 }]);
    await harness.state.clearLimit(TENANT, { kind: "group", id: "ml" });
  }, 30_000);

  test("axe-core: no serious or critical violation on any view, light and dark", async () => {
    const views = ["#/overview", "#/people", `#/people/${subjectOf("alice")}`, "#/groups", "#/models", "#/budgets", "#/audit", "#/revocations"];
    const found: string[] = [];
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const view of views) {
        await page.goto(`${harness.consoleUrl}${view}`);
        await page.waitForSelector("main h2");
        await page.waitForLoadState("networkidle");
        found.push(...(await audit(page)).map((v) => `${scheme} ${view}: ${v}`));
      }
    }
    // the pages of someone not let in
    const context = await newContext();
    const outsider = await signIn(context, "demo");
    await outsider.waitForSelector("[data-testid=forbidden]");
    for (const scheme of ["light", "dark"] as const) {
      await outsider.emulateMedia({ colorScheme: scheme });
      found.push(...(await audit(outsider)).map((v) => `${scheme} forbidden: ${v}`));
    }
    await outsider.click("[data-testid=forbidden] button");
    await outsider.waitForURL((u) => u.search.includes("signed_out"), { timeout: 15_000 });
    await outsider.waitForSelector("[data-testid=signed-out]");
    found.push(...(await audit(outsider)).map((v) => `signed out: ${v}`));
    await context.close();
    expect(found).toEqual([]);
  }, 120_000);

  test("sign-out ends the session; no CSP violation and nothing fetched from another origin all along", async () => {
    const cookie = await cookieHeader(admin);
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto(harness.consoleUrl);
    await page.click("header .user button");
    await page.waitForSelector("[data-testid=signed-out]");
    expect(await page.textContent("[data-testid=signed-out]")).toContain("signed out");
    expect((await fetch(`${harness.consoleUrl}api/overview`, { headers: { cookie } })).status).toBe(401);
    expect(cspViolations).toEqual([]);
    expect(foreignRequests).toEqual([]);
  }, 30_000);
});

/** axe-core's serious and critical violations on the page as it is (evaluated through the DevTools protocol, which the page's CSP does not govern). */
async function audit(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ passes: unknown[]; violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run(document, { resultTypes: ["violations"] });
    return { passes: result.passes.length, list: result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })) };
  });
  // axe really ran its rules on this page
  expect(violations.passes).toBeGreaterThan(10);
  return violations.list.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.impact} ${v.id} at ${v.targets.join(", ")}`);
}
