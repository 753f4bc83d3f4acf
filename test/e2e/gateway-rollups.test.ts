/**
 * The console's pre-aggregated usage, written by a real gateway process as it meters requests:
 * after real requests through `/anthropic/v1/messages`, the roll-ups in the gateway's own state
 * store (a SQLite file, then a real redis-server) equal the admin API's usage report (`admin
 * usage --json`) per person, model and group, and name people as the token did.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dayOf, type Figures } from "../../src/shared/console-api.ts";
import { RedisRollups } from "../../src/proxy/rollup/redis.ts";
import { SqliteRollups } from "../../src/proxy/rollup/sqlite.ts";
import type { UsageRollups } from "../../src/proxy/rollup/types.ts";
import { useTestRedis } from "../support/redis-server.ts";
import { ADMIN_KEY, admin, messageBody, post, useGateway, within } from "../support/gateway.ts";

const gateway = useGateway();
/** The tenant a single-tenant proxy process serves. */
const TENANT = "default";
const redis = useTestRedis();
const dir = mkdtempSync(join(tmpdir(), "ara-rollups-e2e-"));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

interface Row {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
  [key: string]: unknown;
}

const PEOPLE = [
  { sub: "sub-ana", username: "ana", email: "ana@example.com", "cognito:groups": ["eng"] },
  { sub: "sub-ben", username: "ben", email: "ben@example.com", "cognito:groups": ["eng", "ml"] },
  { sub: "sub-cy", username: "cy", email: "cy@example.com", "cognito:groups": [] },
];

const ledger = async (url: string, by: string): Promise<Row[]> => (await (await admin(url, `usage?by=${by}&since=${dayOf(Date.now())}&until=${dayOf(Date.now())}`, ADMIN_KEY)).json()) as Row[];
const asLedger = (f: Figures) => [f.requests, f.input_tokens, f.output_tokens, f.cache_write_5m_tokens + f.cache_write_1h_tokens, f.cache_read_tokens, f.cost_micro_usd];
const fromLedger = (r: Row) => [r.requests, r.input_tokens, r.output_tokens, r.cache_creation_input_tokens, r.cache_read_input_tokens, Math.round(r.cost_usd * 1e6)];

for (const store of ["sqlite", "redis"] as const) {
  describe(`a gateway on ${store}`, () => {
    test("requests through the gateway: its roll-ups equal `admin usage --json` by person, model and group, people named as the token names them", async () => {
      const file = join(dir, "state.db");
      const proxy = await gateway.startProxy({ state: store === "sqlite" ? `sqlite:${file}` : redis.url });
      const rollups: UsageRollups = store === "sqlite" ? new SqliteRollups(file) : new RedisRollups(redis.url);
      try {
        let sent = 0;
        for (const [i, person] of PEOPLE.entries()) {
          const token = await gateway.forge.sign(person);
          for (let n = 0; n <= i + 1; n++) {
            const body = messageBody({ max_tokens: 8 + n, ...(n % 2 ? { stream: true } : {}), ...(n === 2 ? { model: "claude-haiku-4-5" } : {}) });
            const res = await post(proxy.url, token, body);
            expect(res.status).toBe(200);
            await res.text();
            sent++;
          }
        }
        const today = dayOf(Date.now());
        const total = async () => (await rollups.sum(TENANT, "model", [today])).reduce((n, r) => n + r.figures.requests, 0);
        await within(5000, async () => (await total()) === sent && (await ledger(proxy.url, "user")).reduce((n, r) => n + r.requests, 0) === sent);

        const bySub = new Map((await rollups.sum(TENANT, "person", [today])).map((r) => [r.id, asLedger(r.figures)]));
        expect(bySub).toEqual(new Map((await ledger(proxy.url, "user")).map((r) => [r.sub as string, fromLedger(r)])));
        const byModel = new Map((await rollups.sum(TENANT, "model", [today])).map((r) => [r.model, asLedger(r.figures)]));
        expect(byModel).toEqual(new Map((await ledger(proxy.url, "model")).map((r) => [r.model as string, fromLedger(r)])));
        const byGroup = new Map<string, number[]>();
        for (const r of await rollups.sum(TENANT, "group_model", [today])) {
          const known = byGroup.get(r.id);
          const f = asLedger(r.figures);
          byGroup.set(r.id, known ? known.map((v, i) => v + (f[i] as number)) : f);
        }
        expect(byGroup).toEqual(new Map((await ledger(proxy.url, "group")).map((r) => [r.group as string, fromLedger(r)])));
        expect(byModel.size).toBe(2);

        const people = (await rollups.people(TENANT)).sort((a, b) => a.sub.localeCompare(b.sub));
        expect(people.map((p) => ({ sub: p.sub, username: p.username, email: p.email, groups: p.groups }))).toEqual(PEOPLE.map((p) => ({ sub: p.sub, username: p.username, email: p.email, groups: p["cognito:groups"] })));
      } finally {
        await proxy.stop();
        await rollups.close();
      }
    }, 30_000);
  });
}
