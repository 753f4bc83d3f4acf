/**
 * Screenshots of the admin console for docs/console.md, as the gateway serves it: the local
 * tenant (src/tenant/tenant.ts: its IdP, the gateway, the stub upstream) on a SQLite state file
 * seeded first with a year of traffic (bench/seed-usage.ts, into the roll-up tables the gateway's
 * console reads) and a few budgets, signed in as an admin in Debian's Chromium on the tenant's
 * login page: the overview and the people page in light and dark, a person's page, the budgets.
 *
 *   bun scripts/console-screenshots.ts [--out docs/console]
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { DEFAULT_SEED, seedUsage } from "../bench/seed-usage.ts";
import { RollupQueries } from "../src/proxy/rollup/queries.ts";
import { SqliteRollups } from "../src/proxy/rollup/sqlite.ts";
import { openState } from "../src/proxy/state/open.ts";
import { dayOf } from "../src/shared/console-api.ts";
import { adminUser, DEFAULT_USERS, startTenant } from "../src/tenant/tenant.ts";

const args = process.argv.slice(2);
const out = args[args.indexOf("--out") + 1] && args.includes("--out") ? (args[args.indexOf("--out") + 1] as string) : join(import.meta.dir, "..", "docs", "console");
mkdirSync(out, { recursive: true });

const dir = mkdtempSync(join(tmpdir(), "ara-console-shots-"));
const stateUrl = `sqlite:${join(dir, "state.db")}`;
const today = dayOf(Date.now());
const rollups = new SqliteRollups(join(dir, "state.db"));
await seedUsage(rollups, { ...DEFAULT_SEED, tenant: "acme", requests: 120_000, people: 150, groups: 12, days: 365, end: today, seed: 3 });
// budgets for the biggest spenders this month, some nearly burnt, one over (soft), so the burn bars show
const top = await new RollupQueries(rollups).peopleTable("acme", { range: { from: `${today.slice(0, 7)}-01`, to: today }, q: "", sort: "cost_micro_usd", dir: "desc", offset: 0, limit: 6 });
await rollups.close();
const state = openState(stateUrl);
for (const [i, row] of top.rows.entries()) {
  const share = [0.9, 1.6, 3, 0.7, 5, 2][i] as number;
  await state.setBudget({ tenant: "acme", subject: { kind: "user", id: row.username ?? row.sub }, period: "month", unit: "usd", limit: Math.round(row.cost_micro_usd * share), soft: share < 1 });
}
await state.setBudget({ tenant: "acme", subject: { kind: "group", id: "platform-1" }, period: "month", unit: "usd", limit: 400e6, soft: true });
await state.close();

const tenant = await startTenant({
  port: 0, idpPort: 0, accessTokenTtl: 3600, refreshTokenTtl: 86_400, rotateRefreshTokens: false, users: [...DEFAULT_USERS, adminUser("admins")], adminGroup: "admins", state: stateUrl,
  log: () => {},
});
const consoleUrl = tenant.info.console;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(consoleUrl);
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
      await page.goto(`${consoleUrl}${route}`);
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
  await tenant.stop();
  rmSync(dir, { recursive: true, force: true });
}
