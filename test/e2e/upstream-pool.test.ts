/**
 * The upstream pool on its own over real local servers: two Anthropic stubs (one failing on
 * demand), the Bedrock Runtime stand-in (SigV4 verified), real key files. What the gateway
 * process cannot show as sharply: failover between Anthropic and Bedrock, a model only one member
 * serves, the breaker's default 30 s on a clock the test moves, weighted spreading with a seeded
 * draw, a key revoked the moment it is written with no file watch (the 401 re-read), an emptied
 * key file, the AWS shared-credentials chain. The gateway's own behaviour with the pool:
 * gateway-pool.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPool, type PoolBuildDeps } from "../../src/proxy/upstreams/build.ts";
import { parsePoolConfig } from "../../src/proxy/upstreams/config.ts";
import type { Pool } from "../../src/proxy/upstreams/pool.ts";
import type { UpstreamRequest } from "../../src/proxy/upstreams/types.ts";
import { startBedrockStandin, THROTTLED } from "../support/bedrock-standin.ts";
import { usePoolUpstreams } from "../support/pool-harness.ts";
import { seededRandom } from "../support/seeded-random.ts";

const { stubA, stubB, aws, standin, keyFile, rotate } = usePoolUpstreams("pool");

const pools: Pool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
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

// Failover on each retried status and a refused connection, no retry after the first byte, and
// rotation under load by the operator's steps are tested through the gateway process
// (gateway-pool.test.ts); these are the pool's own cases.
describe("failover between kinds of upstream", () => {
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
