/**
 * The admin console's API on a year of a large company's traffic (bench/seed-usage.ts: 1,000,000
 * requests, 1,000 people, 40 groups, 365 days), on SQLite and on a real redis-server: every
 * console endpoint through the console server's own handler (auth, parsing, roll-up queries,
 * JSON), for ranges from today to 400 days; p50 / p95 / max over repeated calls, against the
 * target of 200 ms at p95. The reference, in the same run: the same questions answered by the
 * gateway's request ledger (SqliteState.usageReport over the same million records), which is
 * what a console without roll-ups would scan. Then the overview in Chromium: from navigation to
 * the chart drawn, served by the local tenant's gateway on the seeded SQLite state file, signed
 * in on its real IdP.
 *
 *   bun bench/console-api.ts [--runs 30] [--no-reference] [--no-browser] [--keep DIR --redis URL]
 *
 * With --keep (a directory for the SQLite file) and --redis (a running redis-server), stores that
 * already hold today's seed are measured again without seeding (to re-measure in a quiet moment
 * of a shared machine).
 * Writes bench/results/console.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { addDays, dayOf } from "../src/shared/console-api.ts";
import { buildConsoleAssets, type ConsoleAssets } from "../src/proxy/console/assets.ts";
import { createConsoleData, stateRevocationActions } from "../src/proxy/console/data.ts";
import { createConsoleHandler } from "../src/proxy/console/server.ts";
import { MemorySealedStore } from "../src/proxy/console/session.ts";
import { RedisRollups } from "../src/proxy/rollup/redis.ts";
import { SqliteRollups } from "../src/proxy/rollup/sqlite.ts";
import type { UsageRollups } from "../src/proxy/rollup/types.ts";
import { SqliteState } from "../src/proxy/state/sqlite.ts";
import { startTestRedis } from "../test/support/redis-server.ts";
import type { UsageRecord } from "../src/proxy/model/usage.ts";
import { adminUser, DEFAULT_USERS, startTenant } from "../src/tenant/tenant.ts";
import { DEFAULT_SEED, generateDays, type SeedOptions, seedUsage } from "./seed-usage.ts";

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf("--runs") + 1] && args.includes("--runs") ? args[args.indexOf("--runs") + 1] : 30);
const TARGET_MS = 200;
const today = dayOf(Date.now());
const seed: SeedOptions = { ...DEFAULT_SEED, end: today };
const ORIGIN = "http://127.0.0.1:1";

const RANGES: [string, string][] = [
  ["today", today],
  ["7 days", addDays(today, -6)],
  ["30 days", addDays(today, -29)],
  ["this month", `${today.slice(0, 7)}-01`],
  ["90 days", addDays(today, -89)],
  ["365 days", addDays(today, -364)],
  ["400 days", addDays(today, -399)],
];

interface Stat {
  p50: number;
  p95: number;
  max: number;
}
function stat(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
  return { p50: at(0.5), p95: at(0.95), max: s[s.length - 1] as number };
}
const ms = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));

/** A console handler over the store, signed in as an admin through its own login and callback (the IdP stubbed: not what is measured). */
async function consoleOver(rollups: UsageRollups, state: SqliteState, assets: ConsoleAssets) {
  const handler = createConsoleHandler({
    tenant: seed.tenant,
    idp: { issuer: `${ORIGIN}/pool`, authorizationEndpoint: `${ORIGIN}/pool/oauth2/authorize`, tokenEndpoint: `${ORIGIN}/pool/oauth2/token`, clientId: "console", redirectUri: `${ORIGIN}/_gateway/console/callback`, scopes: ["openid"] },
    verify: async () => ({ sub: "bench-admin", username: "bench-admin", groups: ["admins"] }),
    adminGroups: ["admins"],
    data: createConsoleData({ tenant: seed.tenant, rollups, state, actions: stateRevocationActions(state, seed.tenant, 3_600_000, Date.now) }),
    assets,
    sessions: new MemorySealedStore(),
    clock: Date.now,
    fetch: async () => Response.json({ access_token: "a.b.c", token_type: "Bearer", expires_in: 3600, refresh_token: "r" }),
  });
  const login = (await handler(new Request(`${ORIGIN}/_gateway/console/login`))) as Response;
  const state0 = new URL(String(login.headers.get("location"))).searchParams.get("state");
  const loginCookie = (login.headers.getSetCookie()[0] as string).split(";")[0] as string;
  const callback = (await handler(new Request(`${ORIGIN}/_gateway/console/callback?code=x&state=${state0}`, { headers: { cookie: loginCookie } }))) as Response;
  const cookie = callback.headers.getSetCookie().find((c) => c.startsWith("ara_console="))?.split(";")[0] as string;
  return {
    /** Wall time of one call, and this process's CPU time during it (wall much above CPU: waiting for the machine's cores or for Redis). */
    async get(path: string): Promise<{ wall: number; cpu: number }> {
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      const r = (await handler(new Request(`${ORIGIN}/_gateway/console/api/${path}`, { headers: { cookie } }))) as Response;
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
      const wall = performance.now() - started;
      const cpu = process.cpuUsage(cpu0);
      return { wall, cpu: (cpu.user + cpu.system) / 1000 };
    },
  };
}

/** The heaviest user of the seed (person 1 has the largest weight rarely; ask the roll-ups). */
async function heaviest(rollups: UsageRollups): Promise<string> {
  const rows = await rollups.sum(seed.tenant, "person", [today.slice(0, 7)]);
  return rows.sort((a, b) => b.figures.requests - a.figures.requests)[0]?.id as string;
}

async function measure(name: string, rollups: UsageRollups, state: SqliteState, assets: ConsoleAssets): Promise<{ rows: string[]; worst: number }> {
  const c = await consoleOver(rollups, state, assets);
  const sub = await heaviest(rollups);
  const rows: string[] = [];
  let worst = 0;
  for (const [label, from] of RANGES) {
    const r = `from=${from}&to=${today}`;
    const calls: [string, string][] = [
      ["overview", `overview?${r}`],
      ["people (top 50 by cost)", `people?${r}`],
      ["people (search, by name)", `people?${r}&q=user09&sort=name`],
      ["people (page 10)", `people?${r}&offset=450`],
      ["people CSV (every row)", `people?${r}&format=csv`],
      ["person (heaviest user)", `person?sub=${sub}&${r}`],
      ["groups", `groups?${r}`],
      ["models", `models?${r}`],
    ];
    for (const [what, path] of calls) {
      for (let i = 0; i < 3; i++) await c.get(path);
      const samples: { wall: number; cpu: number }[] = [];
      for (let i = 0; i < RUNS; i++) samples.push(await c.get(path));
      const s = stat(samples.map((x) => x.wall));
      const cpu = stat(samples.map((x) => x.cpu));
      worst = Math.max(worst, s.p95);
      rows.push(`| ${name} | ${label} | ${what} | ${ms(s.p50)} | **${ms(s.p95)}** | ${ms(s.max)} | ${ms(cpu.p95)} |`);
    }
  }
  const budgets: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < RUNS + 3; i++) budgets.push(await c.get("budgets"));
  const b = stat(budgets.slice(3).map((x) => x.wall));
  const bc = stat(budgets.slice(3).map((x) => x.cpu));
  worst = Math.max(worst, b.p95);
  rows.push(`| ${name} | (current periods) | budgets & limits (60 budgets, burn of each) | ${ms(b.p50)} | **${ms(b.p95)}** | ${ms(b.max)} | ${ms(bc.p95)} |`);
  return { rows, worst };
}

/** The write side: records per second through `add` (dedup, every level and period), in batches of 100 as the usage batcher writes them. */
async function writeRate(name: string, rollups: UsageRollups): Promise<string> {
  const records = [...generateDays({ ...seed, tenant: `write-${name}`, requests: 20_000, days: 20 })].flatMap((d) => d.records);
  const started = performance.now();
  for (let i = 0; i < records.length; i += 100) await rollups.add(records.slice(i, i + 100));
  const seconds = (performance.now() - started) / 1000;
  return `| ${name} | ${Math.round(records.length / seconds).toLocaleString("en-US")} records/s | ${((seconds * 1000 * 100) / records.length).toFixed(1)} ms per batch of 100 |`;
}

/** The request ledger holding the same million records (the reference: what scanning it costs). */
async function ledgerReference(state: SqliteState, loadedAlready: boolean): Promise<string[]> {
  let batch: UsageRecord[] = [];
  const started = performance.now();
  for (const { records } of loadedAlready ? [] : generateDays(seed)) {
    for (const r of records) {
      batch.push(r);
      if (batch.length === 5000) {
        await state.writeUsage(batch.map((record) => ({ kind: "record" as const, record })));
        batch = [];
      }
    }
  }
  if (batch.length) await state.writeUsage(batch.map((record) => ({ kind: "record" as const, record })));
  const loaded = (performance.now() - started) / 1000;
  const rows: string[] = [];
  for (const [label, from] of RANGES.filter(([l]) => ["30 days", "365 days"].includes(l))) {
    for (const by of ["user", "model", "group"] as const) {
      const samples: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await state.usageReport({ tenant: seed.tenant, since: from, until: today, by });
        samples.push(performance.now() - t);
      }
      const s = stat(samples);
      rows.push(`| ledger scan (SQLite, 1M rows) | ${label} | usage report by ${by} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.max)} |`);
    }
  }
  console.error(`ledger reference loaded in ${loaded.toFixed(0)} s`);
  return rows;
}

/**
 * Chromium: the overview from navigation to the chart drawn (30 days), and after picking 365 days,
 * as the gateway serves it: the local tenant (its IdP, the gateway) on the seeded SQLite state
 * file, whose roll-ups the console reads (GatewayState.rollups).
 */
async function browserTimes(stateFile: string): Promise<string[]> {
  const tenant = await startTenant({ port: 0, idpPort: 0, accessTokenTtl: 3600, refreshTokenTtl: 86_400, rotateRefreshTokens: false, users: [...DEFAULT_USERS, adminUser("admins")], adminGroup: "admins", state: `sqlite:${stateFile}`, slug: seed.tenant, log: () => {} });
  const consoleUrl = tenant.info.console;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const rows: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await page.goto(consoleUrl);
    await page.click("[data-testid=signed-out] a.button");
    await page.fill("#username", "admin");
    await page.fill("#password", "admin-password-1");
    await page.click("#signin");
    await page.waitForSelector("[data-testid=spend-chart] canvas");
    const loads: number[] = [];
    const years: number[] = [];
    for (let i = 0; i < 10; i++) {
      await page.goto("about:blank");
      let t = performance.now();
      await page.goto(`${consoleUrl}#/overview`);
      await page.waitForSelector("[data-testid=spend-chart] canvas");
      await page.waitForSelector("[data-testid=top-people] tbody tr");
      loads.push(performance.now() - t);
      await page.selectOption("select", "custom");
      await page.fill("input[type=date] >> nth=0", addDays(today, -364));
      await page.fill("input[type=date] >> nth=1", today);
      t = performance.now();
      await page.click("form.custom-range button[type=submit]");
      await page.waitForFunction(() => document.querySelector("[data-testid=spend-chart] figcaption")?.textContent?.includes("over 365 days"));
      years.push(performance.now() - t);
    }
    const a = stat(loads);
    const b = stat(years);
    rows.push(`| Chromium: overview opened (30 days), navigation to chart and tables drawn | ${ms(a.p50)} | **${ms(a.p95)}** | ${ms(a.max)} |`);
    rows.push(`| Chromium: overview switched to 365 days, click to chart redrawn | ${ms(b.p50)} | **${ms(b.p95)}** | ${ms(b.max)} |`);
  } finally {
    await browser.close();
    await tenant.stop();
  }
  return rows;
}

const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const kept = flag("--keep");
const dir = kept ?? mkdtempSync(join(tmpdir(), "ara-console-bench-"));
const redis = flag("--redis") ? { url: flag("--redis") as string, dispose: async () => {} } : await startTestRedis();
/** A store holding today's seed already (a kept one) is not seeded again. */
const seededAlready = async (rollups: UsageRollups) => (await rollups.people(seed.tenant)).length === seed.people && (await rollups.sum(seed.tenant, "model", [today])).length > 0;
const before = loadavg().map((l) => l.toFixed(2)).join(" ");
try {
  const assets = await buildConsoleAssets();
  const sqlite = new SqliteRollups(join(dir, "state.db"));
  const redisRollups = new RedisRollups(redis.url, { commandTimeoutMs: 30_000 });
  const state = new SqliteState(join(dir, "state.db"));
  // budgets of 50 people and 10 groups: the burn of each is computed per call
  for (let i = 1; i <= 50; i++) await state.setBudget({ tenant: seed.tenant, subject: { kind: "user", id: `user${String(i * 7).padStart(4, "0")}` }, period: "month", unit: "usd", limit: 50e6, soft: false });
  for (let i = 1; i <= 10; i++) await state.setBudget({ tenant: seed.tenant, subject: { kind: "group", id: `platform-${i}` }, period: "month", unit: "usd", limit: 2000e6, soft: true });
  const seeded: string[] = [];
  for (const [name, rollups] of [["SQLite", sqlite], ["Redis", redisRollups]] as const) {
    if (await seededAlready(rollups)) {
      seeded.push(`${name}: kept from an earlier seed of the same day`);
      continue;
    }
    const s = await seedUsage(rollups, seed);
    seeded.push(`${name}: ${s.requests.toLocaleString("en-US")} requests, ${s.people} people, ${s.cells.toLocaleString("en-US")} cells, ${s.seconds} s`);
    console.error(`seeded ${seeded.at(-1)}`);
  }
  const results: string[] = [];
  let worst = 0;
  for (const [name, rollups] of [["SQLite", sqlite], ["Redis", redisRollups]] as const) {
    const m = await measure(name, rollups, state, assets);
    results.push(...m.rows);
    worst = Math.max(worst, m.worst);
    console.error(`${name}: worst p95 ${ms(m.worst)} ms`);
  }
  const writes = [await writeRate("SQLite", sqlite), await writeRate("Redis", redisRollups)];
  // a file of its own: the state writes the roll-ups with its ledger, and the seeded ones must stay the seed's
  const ledger = new SqliteState(join(dir, "ledger.db"), { rollupUpkeep: false });
  const reference = args.includes("--no-reference") ? [] : await ledgerReference(ledger, (await ledger.usageReport({ tenant: seed.tenant, since: today, until: today, by: "model" })).length > 0);
  await ledger.close();
  const browser = args.includes("--no-browser") ? [] : await browserTimes(join(dir, "state.db"));
  const after = loadavg().map((l) => l.toFixed(2)).join(" ");
  const cpu = (await Bun.file("/proc/cpuinfo").text()).match(/model name\s*:\s*(.+)/)?.[1] ?? "unknown CPU";
  const report = [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpu} (${navigator.hardwareConcurrency} vCPU; load average ${before} before, ${after} after; the machine is shared).`,
    `Seed (bench/seed-usage.ts, --seed ${seed.seed}, ending ${today}): ${seeded.join("; ")}.`,
    `Each figure: ${RUNS} calls after 3 warm-ups, one at a time, through the console server's handler (session check, parsing, roll-up reads, JSON or CSV). Target: p95 under ${TARGET_MS} ms. Worst p95: **${ms(worst)} ms** (${worst < TARGET_MS ? "met" : "NOT met"}).`,
    "",
    "| store | range | call | p50 ms | p95 ms | max ms | CPU p95 ms |",
    "|---|---|---|---:|---:|---:|---:|",
    ...results,
    "",
    "Writing: `add` of 20,000 generated records in batches of 100 (each counted at 4 levels x day, week and month, deduplicated by request id):",
    "",
    "| store | rate | per batch |",
    "|---|---:|---:|",
    ...writes,
    ...(reference.length ? ["", "Reference, same run: the gateway's request ledger (`SqliteState.usageReport`) over the same 1,000,000 records, 3 calls each:", "", "| store | range | call | p50 ms | p95 ms | max ms |", "|---|---|---|---:|---:|---:|", ...reference] : []),
    ...(browser.length ? ["", "In Chromium (the local tenant's gateway on the seeded SQLite state file, signed in on its IdP), 10 times each:", "", "| measurement | p50 ms | p95 ms | max ms |", "|---|---:|---:|---:|", ...browser] : []),
    "",
  ].join("\n");
  writeFileSync(join(import.meta.dir, "results", "console.md"), report);
  console.log(report);
  await sqlite.close();
  await redisRollups.close();
  await state.close();
} finally {
  await redis.dispose();
  if (!kept) rmSync(dir, { recursive: true, force: true });
}
