/**
 * The admin console's server module alone (src/proxy/console/server.ts; the gateway serves it
 * through http/console.ts, driven by test/e2e/console-gateway.test.ts) on a loopback port,
 * signing in with the local tenant's real IdP (oidc-provider, the console's own app client), over
 * a real SQLite state store (budgets, limits, revocations) and real SQLite (or Redis) roll-ups
 * seeded with known records.
 *
 *   bun test/support/console-harness.ts [--rollups sqlite:<file>|redis://…] [--port N]
 *
 * runs it by hand and prints its URL and users (with a seeded store: the benchmark's data).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DenylistCheck } from "../../src/proxy/auth/denylist.ts";
import { IssuerKeys } from "../../src/proxy/auth/jwks.ts";
import { buildConsoleAssets, type ConsoleAssets } from "../../src/proxy/console/assets.ts";
import { createConsoleData, stateRevocationActions } from "../../src/proxy/console/data.ts";
import { discoverConsoleIdp } from "../../src/proxy/console/oidc.ts";
import { createConsoleHandler } from "../../src/proxy/console/server.ts";
import { MemorySealedStore } from "../../src/proxy/console/session.ts";
import { consoleVerifier } from "../../src/proxy/console/verify.ts";
import { costOf } from "../../src/proxy/accounting/pricing.ts";
import { RedisRollups } from "../../src/proxy/rollup/redis.ts";
import { SqliteRollups } from "../../src/proxy/rollup/sqlite.ts";
import type { RollupRecord, UsageRollups } from "../../src/proxy/rollup/types.ts";
import { SqliteState } from "../../src/proxy/state/sqlite.ts";
import { createIdp, subjectOf, type TenantUser } from "../../src/tenant/idp.ts";
import { addDays, dayMs, dayOf } from "../../src/shared/console-api.ts";
import { portBlock } from "./ports.ts";
import { seededRandom } from "./seeded-random.ts";

export const ADMIN_GROUP = "console-admins";
export const CONSOLE_CLIENT_ID = "agent-runner-console";
export const TENANT = "acme";

export const HARNESS_USERS: TenantUser[] = [
  { username: "admin", password: "admin-password-1", email: "admin@example.invalid", groups: ["developers", ADMIN_GROUP] },
  { username: "demo", password: "demo-password-1", email: "demo@example.invalid", groups: ["developers"] },
  { username: "finance", password: "finance-password-1", email: "finance@example.invalid", groups: ["finance", ADMIN_GROUP] },
];

/** The people the seeded records are for: the IdP's users (so revoking one really locks them out) and others. */
const PEOPLE = [
  ...HARNESS_USERS.map((u) => ({ username: u.username, email: u.email as string, groups: (u.groups ?? []).filter((g) => g !== ADMIN_GROUP) })),
  { username: "alice", email: "alice@example.com", groups: ["platform", "developers"] },
  { username: "bob", email: "bob@example.com", groups: ["platform"] },
  { username: "carol", email: "carol@example.com", groups: ["ml"] },
  { username: "dave", email: "dave@example.com", groups: [] },
  { username: "erin", email: "erin@example.com", groups: ["ml", "developers"] },
];
const MODELS = ["claude-sonnet-4-5", "claude-opus-4-6", "claude-haiku-4-5", "claude-internal-eval"];

/** Known usage records over the last `days` days up to `today` (deterministic). */
export function knownRecords(today: string, days = 70, perDay = 12): RollupRecord[] {
  const rnd = seededRandom(7);
  const out: RollupRecord[] = [];
  for (let d = 0; d < days; d++) {
    const day = addDays(today, -d);
    for (let i = 0; i < perDay; i++) {
      const p = PEOPLE[Math.floor(rnd() * PEOPLE.length)] as (typeof PEOPLE)[number];
      const model = MODELS[Math.floor(rnd() * MODELS.length)] as string;
      const usage = { inputTokens: Math.floor(rnd() * 4000), outputTokens: Math.floor(rnd() * 2000), cacheCreationInputTokens: 0, cacheCreation5mInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: Math.floor(rnd() * 30000) };
      const w5 = Math.floor(rnd() * 3000);
      const w1 = rnd() < 0.2 ? Math.floor(rnd() * 5000) : 0;
      Object.assign(usage, { cacheCreationInputTokens: w5 + w1, cacheCreation5mInputTokens: w5, cacheCreation1hInputTokens: w1 });
      out.push({
        requestId: `known-${day}-${i}`, time: dayMs(day) + Math.floor(rnd() * 86_000_000), tenant: TENANT, sub: subjectOf(p.username), displayName: p.email, username: p.username, email: p.email, groups: p.groups, model,
        ...usage, webSearchRequests: 0, costMicroUsd: costOf(usage, model).microUsd,
      });
    }
  }
  return out;
}

export interface ConsoleHarness {
  url: string;
  consoleUrl: string;
  issuer: string;
  state: SqliteState;
  rollups: UsageRollups;
  records: RollupRecord[];
  today: string;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Roll-ups to show (default: in-memory SQLite seeded with knownRecords). */
  rollups?: UsageRollups;
  /** The day the console calls today (default: the real one). */
  now?: () => number;
  port?: number;
  assets?: ConsoleAssets;
  accessTokenTtl?: number;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startConsoleHarness(options: HarnessOptions = {}): Promise<ConsoleHarness> {
  const now = options.now ?? Date.now;
  const today = dayOf(now());
  const assets = options.assets ?? (await buildConsoleAssets());
  const idpServer = createServer();
  const idpPort = await listen(idpServer, 0);
  const origin = `http://127.0.0.1:${idpPort}`;
  // the console's port is in its registered redirect URI: chosen first, bound after
  let port = options.port ?? (portBlock(1)[0] as number);
  const state = new SqliteState(":memory:");
  const records = options.rollups ? [] : knownRecords(today);
  const rollups = options.rollups ?? new SqliteRollups(":memory:");
  if (!options.rollups) await rollups.add(records);
  for (let attempt = 0; ; attempt++) {
    const consoleUrl = `http://127.0.0.1:${port}/_gateway/console/`;
    const idp = await createIdp({
      origin, poolId: "local_AgentRunner", clientId: "agent-runner-cli", redirectUris: ["http://localhost:53682/callback"], users: HARNESS_USERS,
      accessTokenTtl: options.accessTokenTtl ?? 600, refreshTokenTtl: 86_400, rotateRefreshTokens: false,
      consoleClient: { clientId: CONSOLE_CLIENT_ID, redirectUris: [`${consoleUrl}callback`], logoutUris: [`${consoleUrl}?signed_out=1`] },
    });
    idpServer.removeAllListeners("request");
    idpServer.on("request", (req, res) => idp.handle(req, res));
    const keys = new IssuerKeys(`${idp.issuer}/.well-known/jwks.json`);
    const denylist = new DenylistCheck(state, 1000, now);
    const handler = createConsoleHandler({
      tenant: TENANT,
      // the endpoints as the gateway will learn them: from the IdP's discovery document
      idp: await discoverConsoleIdp(idp.issuer, { clientId: CONSOLE_CLIENT_ID, redirectUri: `${consoleUrl}callback`, logoutUri: `${consoleUrl}?signed_out=1` }, idp.scopes),
      verify: consoleVerifier({ tenant: TENANT, issuer: idp.issuer, keys, clientId: CONSOLE_CLIENT_ID, denylist }),
      adminGroups: [ADMIN_GROUP],
      data: createConsoleData({ tenant: TENANT, rollups, state, actions: stateRevocationActions(state, TENANT, 3_600_000, now, () => denylist.forget()) }),
      assets,
      sessions: new MemorySealedStore(now),
      clock: now,
    });
    let server: ReturnType<typeof Bun.serve>;
    try {
      server = Bun.serve({ hostname: "127.0.0.1", port, fetch: async (request) => (await handler(request)) ?? new Response("not found", { status: 404 }) });
    } catch (e) {
      if (attempt < 5 && options.port === undefined) {
        port = portBlock(1)[0] as number;
        continue;
      }
      throw e;
    }
    return {
      url: `http://127.0.0.1:${port}`,
      consoleUrl,
      issuer: idp.issuer,
      state,
      rollups,
      records,
      today,
      async stop() {
        server.stop(true);
        keys.stop();
        await new Promise<void>((resolve) => {
          idpServer.close(() => resolve());
          idpServer.closeAllConnections();
        });
        await rollups.close();
        await state.close();
      },
    };
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const source = flag("--rollups");
  const rollups = source?.startsWith("sqlite:") ? new SqliteRollups(source.slice(7)) : source ? new RedisRollups(source) : undefined;
  const today = flag("--today");
  const harness = await startConsoleHarness({ ...(rollups ? { rollups } : {}), ...(flag("--port") ? { port: Number(flag("--port")) } : {}), ...(today ? { now: () => dayMs(today) + 12 * 3_600_000 } : {}) });
  console.log(JSON.stringify({ console: harness.consoleUrl, issuer: harness.issuer, users: HARNESS_USERS.map(({ username, password, groups }) => ({ username, password, groups })) }));
  process.on("SIGINT", () => void harness.stop().then(() => process.exit(0)));
}
