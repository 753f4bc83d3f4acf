/**
 * Screenshots of the admin console for docs/console.md: the console harness (the console server
 * module on the local tenant's IdP) over a year of seeded traffic, signed in as an admin in
 * Debian's Chromium, the overview and the people page in light and dark, and a person's page.
 *
 *   bun scripts/console-screenshots.ts [--out docs/console]
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { DEFAULT_SEED, seedUsage } from "../bench/seed-usage.ts";
import { RollupQueries } from "../src/proxy/rollup/queries.ts";
import { SqliteRollups } from "../src/proxy/rollup/sqlite.ts";
import { dayOf } from "../src/shared/console-api.ts";
import { startConsoleHarness } from "../test/support/console-harness.ts";

const args = process.argv.slice(2);
const out = args[args.indexOf("--out") + 1] && args.includes("--out") ? (args[args.indexOf("--out") + 1] as string) : join(import.meta.dir, "..", "docs", "console");
mkdirSync(out, { recursive: true });

const rollups = new SqliteRollups(":memory:");
const today = dayOf(Date.now());
await seedUsage(rollups, { ...DEFAULT_SEED, tenant: "acme", requests: 120_000, people: 150, groups: 12, days: 365, end: today, seed: 3 });
const harness = await startConsoleHarness({ rollups });
// budgets for the biggest spenders this month, some nearly burnt, one over (soft), so the burn bars show
const top = await new RollupQueries(rollups).peopleTable("acme", { range: { from: `${today.slice(0, 7)}-01`, to: today }, q: "", sort: "cost_micro_usd", dir: "desc", offset: 0, limit: 6 });
for (const [i, row] of top.rows.entries()) {
  const share = [0.9, 1.6, 3, 0.7, 5, 2][i] as number;
  await harness.state.setBudget({ tenant: "acme", subject: { kind: "user", id: row.username ?? row.sub }, period: "month", unit: "usd", limit: Math.round(row.cost_micro_usd * share), soft: share < 1 });
}
await harness.state.setBudget({ tenant: "acme", subject: { kind: "group", id: "platform-1" }, period: "month", unit: "usd", limit: 400e6, soft: true });

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(harness.consoleUrl);
  await page.click("[data-testid=signed-out] a.button");
  await page.fill("#username", "admin");
  await page.fill("#password", "admin-password-1");
  await page.click("#signin");
  await page.waitForSelector("[data-testid=overview] .card");
  const shots: [string, string, string][] = [
    ["overview", "#/overview", "[data-testid=spend-chart] canvas"],
    ["people", "#/people", "[data-testid=people-table] tbody tr"],
    ["person", `#/people/${top.rows[1]?.sub}`, "[data-testid=person-chart] canvas"],
    ["budgets", "#/budgets", "[data-testid=budgets-table]"],
  ];
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [name, route, ready] of shots) {
      if (scheme === "dark" && (name === "person" || name === "budgets")) continue;
      await page.goto(`${harness.consoleUrl}${route}`);
      await page.waitForSelector(ready);
      await page.waitForLoadState("networkidle");
      await page.waitForTimeout(300);
      const file = join(out, `${name}-${scheme}.png`);
      await page.screenshot({ path: file, fullPage: name !== "people" });
      console.log(file);
    }
  }
} finally {
  await browser.close();
  await harness.stop();
}
