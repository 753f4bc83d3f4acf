/**
 * The upstream pool through the real gateway process (`bun src/proxy/main.ts --upstreams FILE`):
 * two Anthropic stubs (one failing on demand), the Bedrock Runtime stand-in (SigV4 verified),
 * real key files. What a client sees: failover on each retried status and on a refused
 * connection with no failure; never a retry after the first byte; the breaker opening and
 * closing (in /metrics too); weighted spreading; a key rotated under load, by the file watch and
 * by SIGHUP, with no failed request; Bedrock JSON, streams, count_tokens and the model list; the
 * ledger and `usage?by=upstream` naming the upstream that served; the log line's
 * `upstream` and `attempts`.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_KEY, admin, messageBody, post, type ProxyProcess, useGateway, within } from "../support/gateway.ts";
import { usePoolUpstreams } from "../support/pool-harness.ts";
import { portBlock } from "../support/ports.ts";

const gateway = useGateway();
const { dir, stubA, stubB, aws, standin, keyFile, rotate } = usePoolUpstreams("gateway-pool");
const poolFile = (name: string, upstreams: unknown[], routing?: unknown) => {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ upstreams, ...(routing ? { routing } : {}) }));
  return path;
};
// the standard AWS chain, from the environment only: never the network, never the developer's files
const AWS_ENV = { AWS_ACCESS_KEY_ID: aws.accessKeyId, AWS_SECRET_ACCESS_KEY: aws.secretAccessKey, AWS_SESSION_TOKEN: aws.sessionToken, AWS_EC2_METADATA_DISABLED: "true", AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"), AWS_CONFIG_FILE: join(dir, "none") };
const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
const refusedUrl = `http://127.0.0.1:${closed.port}`;
await closed.stop(true);

const anthropicA = (apiKeyFile = keyFile("a", "sk-ant-a")) => ({ name: "anthropic-a", type: "anthropic", url: stubA.url, apiKeyFile });
const anthropicB = () => ({ name: "anthropic-b", type: "anthropic", url: stubB.url, apiKeyFile: keyFile("b", "sk-ant-b") });
const bedrock = { name: "bedrock-us", type: "bedrock", region: "us-east-1", endpoint: standin.url };
/** No breaker in the way of tests that count attempts. */
const NO_BREAKER = { circuitBreaker: { failures: 1000, openSeconds: 1 } };

/** One worker: its pool's breakers and counters are the ones observed. */
async function start(name: string, upstreams: unknown[], routing?: unknown, o: { metricsPort?: number; env?: Record<string, string> } = {}): Promise<ProxyProcess> {
  return gateway.startProxy({ state: "sqlite::memory:", upstreams: poolFile(name, upstreams, routing), env: { ...AWS_ENV, AGENT_RUNNER_PROXY_WORKERS: "1", ...o.env }, ...(o.metricsPort ? { metricsPort: o.metricsPort } : {}) });
}

let token: string;
const ask = async (proxy: ProxyProcess, stream = false, extra: Record<string, unknown> = {}) => {
  token ??= await gateway.forge.sign({ sub: "sub-pool", username: "pool" });
  const response = await post(proxy.url, token, messageBody({ stream, ...extra }));
  return { status: response.status, text: await response.text() };
};
const lineOf = async (proxy: ProxyProcess, predicate: (l: Record<string, unknown>) => boolean) => {
  for (let i = 0; i < 100; i++) {
    const line = proxy.logLines().findLast(predicate);
    if (line) return line;
    await Bun.sleep(20);
  }
  throw new Error("no such log line");
};
const messageLines = (proxy: ProxyProcess) => proxy.logLines().filter((l) => l.route === "messages");

describe("failover through the gateway, with no client-visible failure", () => {
  let proxy: ProxyProcess;
  test("start: anthropic-a then anthropic-b", async () => {
    proxy = await start("failover", [anthropicA(), anthropicB()], NO_BREAKER);
  });

  for (const status of [429, 500, 502, 503, 504, 529]) {
    test(`anthropic-a answers ${status}: anthropic-b serves, JSON and streamed; the log line says where and how many attempts`, async () => {
      stubA.behave({ mode: "fail", status, body: JSON.stringify({ type: "error", error: { type: "api_error", message: `failing with ${status}` } }) });
      const before = messageLines(proxy).length;
      for (const stream of [false, true]) {
        const { status: got, text } = await ask(proxy, stream);
        expect(got).toBe(200);
        expect(stream ? text.includes("event: message_stop") : JSON.parse(text).type === "message").toBe(true);
      }
      expect([stubA.stats.requests, stubB.stats.requests]).toEqual([2, 2]);
      for (let i = 0; i < 100 && messageLines(proxy).length < before + 2; i++) await Bun.sleep(20);
      const lines = messageLines(proxy).slice(before);
      expect(lines.map((l) => [l.status, l.upstream, l.attempts])).toEqual([[200, "anthropic-b", 2], [200, "anthropic-b", 2]]);
    });
  }

  test("no retry after the first byte: a stream that breaks mid-way fails, and nothing is resent", async () => {
    stubA.behave({ mode: "reset-mid-stream" });
    const { status, text } = await ask(proxy, true).catch((e: Error) => ({ status: 200, text: `failed: ${e.message}` }));
    expect(status).toBe(200);
    expect(text).not.toContain("event: message_stop");
    expect([stubA.stats.requests, stubB.stats.requests]).toEqual([1, 0]);
    const line = await lineOf(proxy, (l) => l.route === "messages" && l.completed === false);
    expect(line).toMatchObject({ upstream: "anthropic-a", attempts: 1 });
  });

  test("every upstream refusing its key: 502 upstream_auth (never the 401 Claude Code would take for its own), after trying both", async () => {
    stubA.acceptKeys(["sk-other"]);
    stubB.behave({ mode: "fail", status: 401, body: JSON.stringify({ type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } }) });
    token ??= await gateway.forge.sign({ sub: "sub-pool", username: "pool" });
    const response = await post(proxy.url, token, messageBody());
    expect(response.status).toBe(502);
    expect(response.headers.get("x-agent-runner-reason")).toBe("upstream_auth");
    await response.text();
    expect(await lineOf(proxy, (l) => l.reject_reason === "upstream_auth")).toMatchObject({ attempts: 2, upstream_status: 401 });
  });

  test("the ledger records which upstream served: usage?by=upstream", async () => {
    await ask(proxy); // anthropic-a, healthy again
    // the log lines of the requests that used the model, against the ledger (written in batches: wait for the last)
    const expected = () => {
      const served = messageLines(proxy).filter((l) => l.input_tokens !== undefined);
      return Object.entries(Object.groupBy(served, (l) => String(l.upstream))).map(([upstream, ls]) => ({ upstream, requests: ls!.length })).sort((x, y) => x.upstream.localeCompare(y.upstream));
    };
    let rows: { upstream: string; requests: number }[] = [];
    await within(2000, async () => {
      rows = ((await (await admin(proxy.url, "usage?by=upstream", ADMIN_KEY)).json()) as typeof rows).map(({ upstream, requests }) => ({ upstream, requests }));
      return Bun.deepEquals(rows, expected());
    }).catch(() => {});
    expect(rows).toEqual(expected());
    expect(rows.map((r) => r.upstream)).toEqual(["anthropic-a", "anthropic-b"]);
  });
});

test("a refused connection: the next upstream serves, the client never knows", async () => {
  const proxy = await start("refused", [{ ...anthropicA(), url: refusedUrl }, anthropicB()]);
  for (const stream of [false, true]) expect((await ask(proxy, stream)).status).toBe(200);
  expect(await lineOf(proxy, (l) => l.route === "messages")).toMatchObject({ upstream: "anthropic-b", attempts: 2 });
});

test("the breaker opens after 5 failures (anthropic-a no longer tried), probes after openSeconds, closes; /metrics says so", async () => {
  const [metricsPort] = portBlock(1) as [number];
  const proxy = await start("breaker", [anthropicA(), anthropicB()], { circuitBreaker: { failures: 5, openSeconds: 1 } }, { metricsPort });
  const metric = async (name: string, upstream: string) => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`upstream="${upstream}"`));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  stubA.behave({ mode: "fail", status: 503, body: "{}" });
  for (let i = 0; i < 5; i++) expect((await ask(proxy)).status).toBe(200);
  expect(await metric("proxy_upstream_circuit_state", "anthropic-a")).toBe(2);
  for (let i = 0; i < 10; i++) expect((await ask(proxy)).status).toBe(200);
  expect(stubA.stats.requests).toBe(5);
  expect(await metric("proxy_upstream_failures_total", "anthropic-a")).toBe(5);
  expect(await metric("proxy_upstream_failovers_total", "anthropic-a")).toBe(5);
  expect(await metric("proxy_upstream_requests_total", "anthropic-b")).toBe(15);
  stubA.behave({ mode: "normal" });
  await Bun.sleep(1100);
  expect((await ask(proxy)).status).toBe(200);
  expect(stubA.stats.requests).toBe(6);
  expect(await lineOf(proxy, (l) => l.route === "messages" && l.upstream === "anthropic-a")).toMatchObject({ attempts: 1 });
  expect(await metric("proxy_upstream_circuit_state", "anthropic-a")).toBe(0);
  expect(proxy.stderr()).toContain("upstream anthropic-a: circuit open after 5 consecutive failures");
  expect(proxy.stderr()).toContain("upstream anthropic-a: circuit closed");
}, 30_000);

test("weighted routing spreads 1,000 requests through the gateway within 10 % of the weights", async () => {
  const proxy = await start("weighted", [{ ...anthropicA(), weight: 3 }, { ...anthropicB(), weight: 1 }], { strategy: "weighted" });
  token ??= await gateway.forge.sign({ sub: "sub-pool", username: "pool" });
  for (let i = 0; i < 1000; i += 20) {
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await ask(proxy)).status));
    expect(statuses.every((s) => s === 200)).toBe(true);
  }
  // within 10 % of anthropic-a's expected 750 (5 standard deviations of a fair draw: a real
  // failure, never chance); anthropic-b took the rest. The pool's own test (seeded) holds both to 10 %.
  expect(stubA.stats.requests + stubB.stats.requests).toBe(1000);
  expect(Math.abs(stubA.stats.requests - 750)).toBeLessThanOrEqual(75);
}, 60_000);

describe("key rotation without a restart, under load, through the gateway", () => {
  /** Requests in a loop, `concurrency` at a time, until `stop` resolves; every status kept. */
  async function load(proxy: ProxyProcess, concurrency: number, stop: Promise<void>): Promise<number[]> {
    const statuses: number[] = [];
    let running = true;
    void stop.then(() => (running = false));
    await Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        while (running) statuses.push((await ask(proxy, i % 2 === 0)).status);
      }),
    );
    return statuses;
  }
  const keysSeen = () => stubA.recorded().map((r) => r.headers["x-api-key"]);

  test("the operator's steps (add the new key, write the file, see it used, revoke the old): no failed request", async () => {
    const path = keyFile("rotating", "sk-ant-a");
    // one upstream: a failed request could not hide behind failover
    const proxy = await start("rotation", [anthropicA(path)]);
    let stop!: () => void;
    const running = load(proxy, 8, new Promise<void>((r) => (stop = r)));
    await Bun.sleep(200);
    stubA.acceptKeys(["sk-ant-a", "sk-ant-a2"]); // 1. a second key exists in the Console
    rotate(path, "sk-ant-a2"); // 2. written to the file, atomically
    for (let i = 0; i < 500 && keysSeen().at(-1) !== "sk-ant-a2"; i++) await Bun.sleep(10); // 3. in use
    stubA.acceptKeys(["sk-ant-a2"]); // 4. the old key revoked
    await Bun.sleep(300);
    stop();
    const statuses = await running;
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(keysSeen().slice(-10).every((k) => k === "sk-ant-a2")).toBe(true);
    expect(proxy.stderr()).not.toContain("sk-ant-a2"); // fingerprints only
  }, 30_000);

  test("SIGHUP re-reads the key file at once, under load; the gateway keeps serving; an emptied file keeps the last good key", async () => {
    const path = keyFile("hup", "sk-ant-a");
    const proxy = await start("sighup", [anthropicA(path)]);
    let stop!: () => void;
    const running = load(proxy, 8, new Promise<void>((r) => (stop = r)));
    await Bun.sleep(200);
    stubA.acceptKeys(["sk-ant-a", "sk-ant-a5"]);
    writeFileSync(path, "sk-ant-a5\n"); // in place, as some tools do
    proxy.child.kill("SIGHUP");
    for (let i = 0; i < 500 && keysSeen().at(-1) !== "sk-ant-a5"; i++) await Bun.sleep(10);
    stubA.acceptKeys(["sk-ant-a5"]);
    writeFileSync(path, "");
    proxy.child.kill("SIGHUP");
    await Bun.sleep(300);
    stop();
    const statuses = await running;
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(proxy.child.exitCode).toBeNull();
    expect(proxy.stderr()).toContain("SIGHUP: reloaded");
    expect(proxy.stderr()).toContain("still using the last good key");
    expect(keysSeen().at(-1)).toBe("sk-ant-a5");
  }, 30_000);
});

describe("a Bedrock-only pool through the gateway", () => {
  let proxy: ProxyProcess;
  test("start", async () => {
    proxy = await start("bedrock", [bedrock]);
  });

  test("JSON and a stream in the Anthropic API's shapes, signed with SigV4 (verified by the stand-in); the ledger says bedrock-us", async () => {
    const json = await ask(proxy);
    expect(json.status).toBe(200);
    expect(JSON.parse(json.text)).toMatchObject({ type: "message", role: "assistant", model: "claude-sonnet-4-5", usage: { input_tokens: expect.any(Number) } });
    const streamed = await ask(proxy, true);
    expect(streamed.status).toBe(200);
    expect(streamed.text).toContain("event: message_start");
    expect(streamed.text).toContain("event: message_stop");
    expect(standin.invocations().slice(-2).map((i) => i.operation)).toEqual(["invoke", "invoke-with-response-stream"]);
    const line = await lineOf(proxy, (l) => l.route === "messages" && l.input_tokens !== undefined);
    expect(line).toMatchObject({ upstream: "bedrock-us", attempts: 1 });
    // usage is written in batches, the stream's when it is over
    let rows: { upstream: string; requests: number }[] = [];
    await within(2000, async () => {
      rows = (await (await admin(proxy.url, "usage?by=upstream", ADMIN_KEY)).json()) as typeof rows;
      return rows[0]?.requests === 2;
    });
    expect(rows).toMatchObject([{ upstream: "bedrock-us", requests: 2 }]);
  });

  test("count_tokens goes to Bedrock's CountTokens; /v1/models lists what the pool serves", async () => {
    token ??= await gateway.forge.sign({ sub: "sub-pool", username: "pool" });
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" };
    const counted = await fetch(`${proxy.url}/anthropic/v1/messages/count_tokens`, { method: "POST", headers, body: JSON.stringify({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "hello" }] }) });
    expect(counted.status).toBe(200);
    expect(await counted.json()).toEqual({ input_tokens: expect.any(Number) });
    expect(standin.invocations().at(-1)!.operation).toBe("count-tokens");
    const models = await fetch(`${proxy.url}/anthropic/v1/models`, { headers });
    expect(models.status).toBe(200);
    const ids = ((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids).toContain("claude-sonnet-4-5");
  });
});
