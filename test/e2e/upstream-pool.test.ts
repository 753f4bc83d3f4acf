/**
 * The upstream pool over real local servers: two Anthropic stubs (one failing on demand), the
 * Bedrock Runtime stand-in (SigV4 verified), real key files. Failover on each retried status and
 * on a refused connection with no client-visible failure; never after the first byte; breakers
 * opening and closing; weighted spreading; key rotation under a loop of requests.
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPool, type PoolBuildDeps } from "../../src/proxy/upstreams/build.ts";
import { parsePoolConfig } from "../../src/proxy/upstreams/config.ts";
import type { Pool } from "../../src/proxy/upstreams/pool.ts";
import type { UpstreamRequest } from "../../src/proxy/upstreams/types.ts";
import { startStubUpstream } from "../../src/tenant/stub-upstream.ts";
import { startBedrockStandin, THROTTLED } from "../support/bedrock-standin.ts";
import { seededRandom } from "../support/seeded-random.ts";

const dir = mkdtempSync(join(tmpdir(), "ara-pool-"));
const keyFile = (name: string, key: string) => {
  const path = join(dir, name);
  writeFileSync(path, `${key}\n`);
  return path;
};
/** An atomic write, as docs/upstreams.md tells operators to do it. */
const rotate = (path: string, key: string) => {
  writeFileSync(`${path}.tmp`, `${key}\n`);
  renameSync(`${path}.tmp`, path);
};

const stubA = startStubUpstream({ apiKey: "sk-ant-a" });
const stubB = startStubUpstream({ apiKey: "sk-ant-b" });
const aws = { accessKeyId: "ASIAPOOL", secretAccessKey: "pool-secret", sessionToken: "pool-token" };
const standin = startBedrockStandin({ credentials: [aws] });
const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
const refusedUrl = `http://127.0.0.1:${closed.port}`;
await closed.stop(true);

const pools: Pool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});
afterAll(() => {
  stubA.stop();
  stubB.stop();
  standin.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  for (const s of [stubA, stubB]) {
    s.behave({ mode: "normal" });
    s.stats.requests = 0;
  }
  stubA.acceptKeys(["sk-ant-a"]);
  standin.behave({ mode: "normal" });
});

const anthropicA = () => ({ name: "anthropic-a", type: "anthropic", url: stubA.url, apiKeyFile: keyFile("a", "sk-ant-a") });
const anthropicB = () => ({ name: "anthropic-b", type: "anthropic", url: stubB.url, apiKeyEnv: "POOL_TEST_KEY_B" });
const bedrock = { name: "bedrock-us", type: "bedrock", region: "us-east-1", endpoint: standin.url };

async function pool(upstreams: unknown[], routing?: unknown, over: Partial<PoolBuildDeps> = {}): Promise<Pool> {
  const built = await buildPool(parsePoolConfig(upstreams, routing, "test"), {
    tenant: "test",
    log: () => {},
    now: Date.now,
    random: seededRandom(5),
    newRequestId: () => "req_pool",
    env: { POOL_TEST_KEY_B: "sk-ant-b" },
    credentials: async () => async () => aws,
    ...over,
  });
  pools.push(built);
  return built;
}

function request(stream = false, model = "claude-sonnet-4-5-20250929"): UpstreamRequest {
  const body = { model, max_tokens: 32, stream, messages: [{ role: "user", content: "hello" }] };
  return { route: "messages", method: "POST", path: "/v1/messages", search: "", headers: new Headers({ "content-type": "application/json", "anthropic-version": "2023-06-01" }), body: new TextEncoder().encode(JSON.stringify(body)), signal: new AbortController().signal };
}

describe("failover with no client-visible failure", () => {
  for (const status of [429, 500, 502, 503, 504, 529]) {
    test(`anthropic-a answers ${status}: anthropic-b serves, streamed and not`, async () => {
      const p = await pool([anthropicA(), anthropicB()]);
      stubA.behave({ mode: "fail", status, body: JSON.stringify({ type: "error", error: { type: "api_error", message: `failing with ${status}` } }) });
      for (const stream of [false, true]) {
        const result = await p.send(request(stream));
        expect(result.response.status).toBe(200);
        expect(result.upstream).toBe("anthropic-b");
        expect(result.attempts).toBe(2);
        const text = await result.response.text();
        expect(stream ? text.includes("event: message_stop") : JSON.parse(text).type === "message").toBe(true);
      }
      expect(stubA.stats.requests).toBe(2);
      expect(stubB.stats.requests).toBe(2);
      expect(p.stats()[0]!.failures).toEqual({ [String(status)]: 2 });
    });
  }

  test("a refused connection: the next upstream serves", async () => {
    const p = await pool([{ ...anthropicA(), url: refusedUrl }, anthropicB()]);
    const result = await p.send(request(true));
    expect(result.response.status).toBe(200);
    expect(result.tried.map((t) => [t.upstream, t.outcome])).toEqual([["anthropic-a", "unreachable"], ["anthropic-b", "served"]]);
    await result.response.text();
  });

  test("Anthropic failing → Bedrock serves; Bedrock throttled → Anthropic serves", async () => {
    const toBedrock = await pool([anthropicA(), bedrock]);
    stubA.behave({ mode: "fail", status: 529, body: JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }) });
    const served = await toBedrock.send(request(true));
    expect(served.upstream).toBe("bedrock-us");
    expect(await served.response.text()).toContain('"model":"claude-sonnet-4-5-20250929"');

    const toAnthropic = await pool([bedrock, anthropicB()]);
    standin.behave(THROTTLED);
    const back = await toAnthropic.send(request(true));
    expect(back.upstream).toBe("anthropic-b");
    expect(back.tried[0]).toMatchObject({ upstream: "bedrock-us", outcome: "429" });
    await back.response.text();
  });

  test("a model Bedrock does not serve goes to the Anthropic upstream without an attempt", async () => {
    const p = await pool([bedrock, anthropicB()]);
    const before = standin.stats.requests;
    const result = await p.send(request(false, "claude-fable-5-1"));
    expect(result.upstream).toBe("anthropic-b");
    expect(result.attempts).toBe(1);
    expect(standin.stats.requests).toBe(before);
    await result.response.text();
  });
});

test("no retry after the first byte: a stream that breaks mid-way fails, and nothing is resent", async () => {
  const p = await pool([anthropicA(), anthropicB()]);
  stubA.behave({ mode: "reset-mid-stream" });
  const result = await p.send(request(true));
  expect(result.response.status).toBe(200);
  expect(result.upstream).toBe("anthropic-a");
  const read = await result.response.text().catch((e: Error) => `failed: ${e.message}`);
  expect(read).not.toContain("event: message_stop");
  expect(stubB.stats.requests).toBe(0);
  expect(stubA.stats.requests).toBe(1);
});

test("the breaker opens after 5 failures (anthropic-a no longer tried), probes after 30 s, closes", async () => {
  let now = Date.now();
  const p = await pool([anthropicA(), anthropicB()], undefined, { now: () => now });
  stubA.behave({ mode: "fail", status: 503, body: "{}" });
  for (let i = 0; i < 5; i++) await (await p.send(request())).response.text();
  expect(p.stats()[0]!.circuit).toBe("open");
  for (let i = 0; i < 10; i++) await (await p.send(request())).response.text();
  expect(stubA.stats.requests).toBe(5);
  stubA.behave({ mode: "normal" });
  now += 30_000;
  const probe = await p.send(request());
  expect(probe.upstream).toBe("anthropic-a");
  await probe.response.text();
  expect(p.stats()[0]!.circuit).toBe("closed");
  expect(stubA.stats.requests).toBe(6);
});

test("weighted routing spreads 1,000 requests within 10 % of the weights", async () => {
  const p = await pool([{ ...anthropicA(), weight: 3 }, { ...anthropicB(), weight: 1 }], { strategy: "weighted" });
  for (let i = 0; i < 1000; i += 20) {
    await Promise.all(Array.from({ length: 20 }, async () => (await p.send(request())).response.arrayBuffer()));
  }
  expect(Math.abs(stubA.stats.requests - 750)).toBeLessThanOrEqual(75);
  expect(Math.abs(stubB.stats.requests - 250)).toBeLessThanOrEqual(25);
});

describe("key rotation without restart, under load", () => {
  /** Requests in a loop, `concurrency` at a time, until `stop` resolves; every status kept. */
  async function load(p: Pool, concurrency: number, stop: Promise<void>): Promise<number[]> {
    const statuses: number[] = [];
    let running = true;
    void stop.then(() => (running = false));
    await Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        while (running) {
          const result = await p.send(request(i % 2 === 0));
          await result.response.text();
          statuses.push(result.response.status);
        }
      }),
    );
    return statuses;
  }
  const keysSeen = () => stubA.recorded().map((r) => r.headers["x-api-key"]);

  test("the operator's steps (add the new key, write it, see it used, revoke the old): no failed request", async () => {
    const path = keyFile("rotating", "sk-ant-a");
    const p = await pool([{ ...anthropicA(), apiKeyFile: path }]);
    let stop!: () => void;
    const running = load(p, 8, new Promise<void>((r) => (stop = r)));
    await Bun.sleep(100);
    stubA.acceptKeys(["sk-ant-a", "sk-ant-a2"]); // 1. a second key exists in the Console
    rotate(path, "sk-ant-a2"); // 2. written to the file, atomically
    for (let i = 0; i < 200 && keysSeen().at(-1) !== "sk-ant-a2"; i++) await Bun.sleep(10); // 3. in use
    stubA.acceptKeys(["sk-ant-a2"]); // 4. the old key revoked
    await Bun.sleep(150);
    stop();
    const statuses = await running;
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(keysSeen().slice(-10).every((k) => k === "sk-ant-a2")).toBe(true);
  });

  test("even revoked at the very moment it is written (no overlap), no request fails: a 401 re-reads the file", async () => {
    const path = keyFile("abrupt", "sk-ant-a");
    // a filesystem that reports no change and is not polled: only the 401 can notice
    const p = await pool([{ ...anthropicA(), apiKeyFile: path }], undefined, { keyFiles: { read: (f) => Bun.file(f).text(), watch: () => () => {} }, keyPollMs: 3_600_000 });
    let stop!: () => void;
    const running = load(p, 8, new Promise<void>((r) => (stop = r)));
    await Bun.sleep(100);
    rotate(path, "sk-ant-a3");
    stubA.acceptKeys(["sk-ant-a3"]);
    await Bun.sleep(200);
    stop();
    const statuses = await running;
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(keysSeen().at(-1)).toBe("sk-ant-a3");
  });

  test("SIGHUP (reload) picks up a key at once; an emptied file keeps the last good key", async () => {
    const path = keyFile("hup", "sk-ant-a");
    const logs: string[] = [];
    const p = await pool([{ ...anthropicA(), apiKeyFile: path }], undefined, { keyFiles: { read: (f) => Bun.file(f).text(), watch: () => () => {} }, keyPollMs: 3_600_000, log: (_l, m) => void logs.push(m) });
    writeFileSync(path, "");
    await p.reload();
    expect((await p.send(request())).response.status).toBe(200);
    expect(logs.some((l) => l.includes("is empty; still using the last good key"))).toBe(true);
    stubA.acceptKeys(["sk-ant-a4"]);
    writeFileSync(path, "sk-ant-a4\n");
    await p.reload();
    expect((await p.send(request())).response.status).toBe(200);
    expect(keysSeen().at(-1)).toBe("sk-ant-a4");
  });
});

test("a Bedrock-only pool: count_tokens goes to CountTokens; the model list is the pool's", async () => {
  const p = await pool([bedrock]);
  const counted = await p.send({ ...request(), route: "count_tokens", path: "/v1/messages/count_tokens" });
  expect(await counted.response.json()).toEqual({ input_tokens: expect.any(Number) });
  expect(standin.invocations().at(-1)!.operation).toBe("count-tokens");
  expect(p.models()).toContain("claude-sonnet-4-5");
});

test("AWS credentials from the real chain (a shared credentials file); rotated in the file, SIGHUP (reload) signs with the new key", async () => {
  const saved = { ...process.env };
  const awsDir = mkdtempSync(join(tmpdir(), "ara-aws-"));
  const write = (id: string, secret: string) => writeFileSync(join(awsDir, "credentials"), `[gateway]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\n`);
  const rotating = startBedrockStandin({ credentials: [{ accessKeyId: "AKIAFILEOLD", secretAccessKey: "old-secret" }, { accessKeyId: "AKIAFILENEW", secretAccessKey: "new-secret" }] });
  try {
    write("AKIAFILEOLD", "old-secret");
    writeFileSync(join(awsDir, "config"), "");
    // only the file: never the network (instance metadata off), never the developer's own files
    Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: join(awsDir, "credentials"), AWS_CONFIG_FILE: join(awsDir, "config"), AWS_EC2_METADATA_DISABLED: "true" });
    // no `credentials` handed in: the standard chain, as in production
    const built = await buildPool(parsePoolConfig([{ ...bedrock, endpoint: rotating.url, awsProfile: "gateway" }], undefined, "test"), { tenant: "test", log: () => {}, now: Date.now, random: Math.random, newRequestId: () => "r" });
    pools.push(built);
    expect((await built.send(request())).response.status).toBe(200);
    expect(rotating.invocations().at(-1)!.headers.authorization).toContain("Credential=AKIAFILEOLD/");
    write("AKIAFILENEW", "new-secret");
    await built.reload();
    expect((await built.send(request())).response.status).toBe(200);
    expect(rotating.invocations().at(-1)!.headers.authorization).toContain("Credential=AKIAFILENEW/");
  } finally {
    for (const key of ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_EC2_METADATA_DISABLED"]) if (saved[key] === undefined) delete process.env[key];
    Object.assign(process.env, saved);
    rotating.stop();
    rmSync(awsDir, { recursive: true, force: true });
  }
});
