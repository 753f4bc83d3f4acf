/**
 * The gateway's refusals, through real proxy processes and a real stub upstream:
 * - a budget that cannot fit a request even with nothing in flight is 403 permission_error
 *   (`budget_exhausted`) naming the budget, what is left (true amounts, not $0.00) and when it
 *   resets, and the refused requests never count toward a rate limit; with two processes sharing
 *   a SQLite file, and two replicas sharing a real redis-server;
 * - a rate limit's retry-after is at most its one-minute window;
 * - the upstream refusing the tenant's own key (the stub checks it) is 502 api_error
 *   `upstream_auth`, never relayed as the client's 401: logged at warn with the upstream's
 *   status, counted in proxy_upstream_auth_failures_total.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatMicroUsd } from "../../src/shared/money.ts";
import { useTestRedis } from "../support/redis-server.ts";
import { stubOutputTokens, stubUsage } from "../../src/tenant/stub-upstream.ts";
import { ADMIN_KEY, admin, messageBody, post, type ProxyProcess, useGateway, within } from "../support/gateway.ts";
import { randomPort } from "../support/ports.ts";

const gateway = useGateway();
const redis = useTestRedis();


type ApiError = { type: string; error: { type: string; message: string } };

const FULL_OUTPUT = stubOutputTokens("Hello from the local agent-runner tenant. Your token was verified by the proxy.");

for (const backend of ["sqlite", "redis"] as const) {
  describe(`budget refusals (${backend}, two processes sharing the state)`, () => {
    let a: ProxyProcess;
    let b: ProxyProcess;
    beforeAll(async () => {
      const state = backend === "sqlite" ? `sqlite:${join(mkdtempSync(join(tmpdir(), "ara-refusals-")), "state.db")}` : redis.url;
      [a, b] = await Promise.all([gateway.startProxy({ state }), gateway.startProxy({ state })]);
    });

    test("a budget that cannot fit the request even with nothing in flight: 403 naming it, what is left and when it resets; refused requests never count toward the rate limit", async () => {
      const who = `pat-${backend}`;
      const token = await gateway.forge.sign({ sub: `sub-${who}`, username: who, "cognito:groups": [`eng-${backend}`] });
      const body = messageBody();
      const usage = stubUsage(body);
      // one request's real cost at claude-sonnet-4-5 and the gateway's estimate, in micro-dollars
      const real = Math.round(usage.input_tokens * 3 + FULL_OUTPUT * 15 + usage.cache_creation_input_tokens * 3.75 + usage.cache_read_input_tokens * 0.3);
      const estimate = Math.ceil(body.length / 4) * 3 + 16 * 15;
      expect(estimate).toBeGreaterThan(real);
      // the group's daily budget fits one request; after it, less than an estimate is left
      const budget = real + Math.floor(estimate / 2);
      expect((await admin(a.url, "budgets", ADMIN_KEY, { method: "PUT", body: JSON.stringify({ group: `eng-${backend}`, period: "day", usd: budget / 1e6 }) })).status).toBe(200);
      expect((await admin(a.url, "limits", ADMIN_KEY, { method: "PUT", body: JSON.stringify({ user: who, rpm: 2 }) })).status).toBe(200);

      const first = await post(a.url, token, body);
      expect(first.status).toBe(200);
      await first.text();
      // settled (the usage write is batched after the answer): the person's figures show it
      let used = 0;
      await within(2000, async () => {
        const me = (await (await fetch(`${b.url}/_gateway/v1/me/usage`, { headers: { authorization: `Bearer ${token}` } })).json()) as { budgets: { used: number }[] };
        used = Math.round((me.budgets[0]?.used ?? 0) * 1e6);
        return used > 0 && used < estimate;
      });
      const left = budget - used;

      for (const p of [b, a, b]) {
        const refused = await post(p.url, token, body);
        expect(refused.status).toBe(403);
        expect(refused.headers.get("x-agent-runner-reason")).toBe("budget_exhausted");
        expect(refused.headers.get("retry-after")).toBeNull();
        const error = (await refused.json()) as ApiError;
        expect(error.error.type).toBe("permission_error");
        expect(error.error.message).toContain(`group eng-${backend}'s daily budget of ${formatMicroUsd(budget)} has ${formatMicroUsd(left)} left (${formatMicroUsd(used)} used, resets `);
        expect(error.error.message).toMatch(/less than this request may cost \(\$0\.000\d{4}\)/);
        expect(error.error.message).not.toContain("$0.00 ");
      }

      // the three refusals did not count: with the budget gone, the second request of the minute passes, the third is limited
      expect((await admin(b.url, `budgets?group=eng-${backend}&period=day`, ADMIN_KEY, { method: "DELETE" })).status).toBe(200);
      const second = await post(b.url, token, body);
      expect(second.status).toBe(200);
      await second.text();
      const third = await post(a.url, token, body);
      expect(third.status).toBe(429);
      expect(third.headers.get("x-agent-runner-reason")).toBe("rate_limited");
      const retryAfter = Number(third.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      console.log(`${backend}: budget ${formatMicroUsd(budget)}, used ${formatMicroUsd(used)}, 3 refusals 403 with ${formatMicroUsd(left)} left; then 200 and 429 retry-after ${retryAfter} s under rpm 2`);
    }, 20_000);
  });
}

describe("the upstream refuses the tenant's key", () => {
  test("502 api_error upstream_auth on every route (never the upstream's 401), a warn log line with its status, and the metric", async () => {
    const metricsPort = randomPort();
    const p = await gateway.startProxy({ state: `sqlite:${join(mkdtempSync(join(tmpdir(), "ara-upstream-auth-")), "state.db")}`, upstreamKey: "sk-ant-revoked-key", metricsPort });
    const token = await gateway.forge.sign({ sub: "sub-uma", username: "uma" });
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" };
    const answers = [
      await post(p.url, token, messageBody()),
      await post(p.url, token, messageBody({ stream: true })),
      await fetch(`${p.url}/anthropic/v1/messages/count_tokens`, { method: "POST", headers, body: messageBody() }),
      await fetch(`${p.url}/anthropic/v1/models`, { headers }),
    ];
    for (const r of answers) {
      expect(r.status).toBe(502);
      expect(r.headers.get("x-agent-runner-reason")).toBe("upstream_auth");
      expect(r.headers.get("www-authenticate")).toBeNull();
      const error = (await r.json()) as ApiError;
      expect(error.error).toEqual({ type: "api_error", message: "the gateway's upstream credential was refused; contact your administrator" });
    }
    // the stub did refuse the key: this is its 401, turned into the gateway's own error
    const direct = await fetch(`${gateway.stub.url}/v1/models`, { headers: { "x-api-key": "sk-ant-revoked-key" } });
    expect(direct.status).toBe(401);

    let lines: Record<string, unknown>[] = [];
    await within(2000, async () => {
      lines = p.logLines().filter((l) => l.reject_reason === "upstream_auth");
      return lines.length === 4;
    });
    for (const line of lines) expect(line).toMatchObject({ level: "warn", status: 502, upstream_status: 401, sub: "sub-uma" });
    expect(p.stderr()).toContain('"reject_reason":"upstream_auth"');
    // once a minute per process (this one runs a worker per core), not once per request
    const warnings = p.stderr().match(/refused tenant .*'s API key \(HTTP 401\)/g) ?? [];
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(2);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const counted = [...metrics.matchAll(/^proxy_upstream_auth_failures_total\{[^}]*status="401"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(counted).toBe(4);
  }, 20_000);
});
