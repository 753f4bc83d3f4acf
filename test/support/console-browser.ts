/**
 * The admin console's browser fixtures, shared by its e2e suites (the gateway's, and the
 * harness's over a year of seeded roll-ups): Debian's Chromium through playwright-core, contexts
 * that watch for CSP violations and requests to another origin, the sign-in on the tenant's real
 * login page, the session cookie for direct API calls, and axe-core's serious/critical findings.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "bun:test";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

const AXE = readFileSync(join(import.meta.dir, "..", "..", "node_modules", "axe-core", "axe.min.js"), "utf8");

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
}

export class ConsoleBrowser {
  /** `securitypolicyviolation` events heard in any page (the strict CSP must never be violated). */
  readonly cspViolations: string[] = [];
  /** Requests to anything but loopback (nothing may come from another origin). */
  readonly foreignRequests: string[] = [];

  constructor(
    readonly browser: Browser,
    /** `…/_gateway/console/` */
    readonly consoleUrl: string,
  ) {}

  async newContext(): Promise<BrowserContext> {
    const context = await this.browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    context.on("console", (m) => m.text().startsWith("CSP violation") && this.cspViolations.push(m.text()));
    context.on("request", (r) => {
      const host = new URL(r.url()).hostname;
      if (!["127.0.0.1", "localhost"].includes(host)) this.foreignRequests.push(r.url());
    });
    return context;
  }

  /** Opens the console, follows "Sign in" to the tenant's login page, signs in, waits to be back. */
  async signIn(context: BrowserContext, username: string, password: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(this.consoleUrl);
    await page.click("[data-testid=signed-out] a.button");
    await page.fill("#username", username);
    await page.fill("#password", password);
    await page.click("#signin");
    await page.waitForURL((u) => u.href.startsWith(this.consoleUrl), { timeout: 15_000 });
    return page;
  }
}

/** The console's session cookie of a context, as a Cookie header for direct API calls. */
export const cookieHeader = async (context: BrowserContext) => (await context.cookies()).filter((c) => c.name === "ara_console").map((c) => `${c.name}=${c.value}`).join("; ");

/** axe-core's serious and critical violations on the page as it is (evaluated through the DevTools protocol, which the page's CSP does not govern). */
export async function axeFindings(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ passes: unknown[]; violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run(document, { resultTypes: ["violations"] });
    return { passes: result.passes.length, list: result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })) };
  });
  // axe really ran its rules on this page
  expect(violations.passes).toBeGreaterThan(10);
  return violations.list.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.impact} ${v.id} at ${v.targets.join(", ")}`);
}

/** The console's views (a person's page needs a sub). */
export const consoleViews = (personSub: string) => ["#/overview", "#/people", `#/people/${personSub}`, "#/groups", "#/models", "#/budgets", "#/audit", "#/revocations"];

/** Sets a person's budget through the console's form (Budgets & limits) and waits until its row shows. */
export async function setBudgetInConsole(page: Page, consoleUrl: string, budget: { user: string; period: string; usd: string }): Promise<void> {
  await page.goto(`${consoleUrl}#/budgets`);
  await page.waitForSelector("[data-testid=budget-form]");
  await page.fill("[data-testid=budget-user]", budget.user);
  await page.selectOption("[data-testid=budget-period]", budget.period);
  await page.fill("[data-testid=budget-usd]", budget.usd);
  await page.click("[data-testid=budget-submit]");
  await page.waitForSelector(`[data-testid=budget-row-user-${budget.user}-${budget.period}-usd]`);
}
