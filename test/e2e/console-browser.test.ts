/**
 * The admin console over many people and models: the console server module (the harness,
 * test/support/console-harness.ts) signing in on the local tenant's real IdP in real Chromium,
 * over roll-ups seeded with known records (70 days, 8 people, 4 models). The figures shown must
 * equal those records summed directly; search and sort; a budget's burn shown against the
 * records; the strict CSP is never violated (the detector proven first) and nothing is fetched
 * from another origin; sign-out ends the session. The console as the gateway serves it (the
 * admin CLI, revocation at /anthropic/, forbidden, the API's refusals, axe on every view) is
 * test/e2e/console-gateway.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { addDays, usd } from "../../src/shared/console-api.ts";
import { money } from "../../src/proxy/console/ui/format.ts";
import type { RollupRecord } from "../../src/proxy/rollup/types.ts";
import { type ConsoleHarness, HARNESS_USERS, startConsoleHarness, TENANT } from "../support/console-harness.ts";
import { ConsoleBrowser, cookieHeader, launchChromium, setBudgetInConsole } from "../support/console-browser.ts";

let harness: ConsoleHarness;
let browser: Browser;
let cb: ConsoleBrowser;

beforeAll(async () => {
  harness = await startConsoleHarness();
  browser = await launchChromium();
  cb = new ConsoleBrowser(browser, harness.consoleUrl);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await harness?.stop();
});

/** Signs a harness user in on the tenant's login page. */
function signIn(context: BrowserContext, username: string): Promise<Page> {
  const user = HARNESS_USERS.find((u) => u.username === username) as (typeof HARNESS_USERS)[number];
  return cb.signIn(context, user.username, user.password as string);
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

describe("the console in Chromium", () => {
  let admin: BrowserContext;
  let page: Page;
  beforeAll(async () => {
    admin = await cb.newContext();
    page = await signIn(admin, "admin");
  }, 60_000);

  test("the CSP violation detector works (an inline style attribute is reported), so its silence below means something", async () => {
    await page.waitForSelector("[data-testid=overview]");
    await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<div id="csp-probe" style="color: red">probe</div>'));
    for (let i = 0; i < 20 && cb.cspViolations.length === 0; i++) await Bun.sleep(50);
    expect(cb.cspViolations.length).toBeGreaterThan(0);
    expect(cb.cspViolations[0]).toContain("style-src");
    cb.cspViolations.length = 0;
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
    // its legend gives each model's cost over the range; the model without a price says so, not $0.00
    const legend = await page.$$eval("[data-testid=spend-chart] .u-legend .u-series", (rows) => rows.map((r) => [r.querySelector(".u-label")?.textContent ?? "", r.querySelector(".u-value")?.textContent ?? ""]));
    const byModel = sums(harness.records, from, today, (r) => r.model);
    expect(legend).toContainEqual(["claude-internal-eval", "unpriced"]);
    expect(legend).toContainEqual(["claude-sonnet-4-5", money(byModel.get("claude-sonnet-4-5")?.cost ?? -1)]);
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
    await setBudgetInConsole(page, harness.consoleUrl, { user: "demo", period: "month", usd: "12.5" });
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

  test("sign-out ends the session; no CSP violation and nothing fetched from another origin all along", async () => {
    const cookie = await cookieHeader(admin);
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto(harness.consoleUrl);
    await page.click("header .user button");
    await page.waitForSelector("[data-testid=signed-out]");
    expect(await page.textContent("[data-testid=signed-out]")).toContain("signed out");
    expect((await fetch(`${harness.consoleUrl}api/overview`, { headers: { cookie } })).status).toBe(401);
    expect(cb.cspViolations).toEqual([]);
    expect(cb.foreignRequests).toEqual([]);
  }, 30_000);
});
