import { describe, expect, test } from "bun:test";
import { DEFAULT_ROUTING, parsePoolConfig, poolConfigOfTenant, readUpstreamsFile } from "./config.ts";
import { UpstreamError } from "./types.ts";

function refused(f: () => unknown, ...texts: string[]): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(UpstreamError);
  expect((error as UpstreamError).code).toBe("config");
  for (const t of texts) expect((error as Error).message).toContain(t);
}

const issueExample = [
  { name: "anthropic-a", type: "anthropic", url: "https://api.anthropic.com", apiKeyFile: "/run/secrets/anthropic-a" },
  { name: "anthropic-b", type: "anthropic", url: "https://api.anthropic.com", apiKeyEnv: "ANTHROPIC_KEY_B", weight: 1 },
  { name: "bedrock-us", type: "bedrock", region: "us-east-1", models: { "claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0" } },
];

describe("the upstreams list", () => {
  test("the issue's example: three members in order, defaults filled in", () => {
    const pool = parsePoolConfig(issueExample, { strategy: "failover", maxAttempts: 3 }, "tenants.acme");
    expect(pool.upstreams.map((u) => u.name)).toEqual(["anthropic-a", "anthropic-b", "bedrock-us"]);
    expect(pool.upstreams[0]).toEqual({ name: "anthropic-a", type: "anthropic", url: "https://api.anthropic.com", key: { kind: "file", path: "/run/secrets/anthropic-a" }, weight: 1 });
    expect(pool.upstreams[1]).toMatchObject({ key: { kind: "env", name: "ANTHROPIC_KEY_B" } });
    expect(pool.upstreams[2]).toEqual({
      name: "bedrock-us",
      type: "bedrock",
      region: "us-east-1",
      endpoint: "https://bedrock-runtime.us-east-1.amazonaws.com",
      models: { "claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0" },
      inferenceProfile: "geo",
      weight: 1,
    });
    expect(pool.routing).toEqual({ ...DEFAULT_ROUTING, strategy: "failover", maxAttempts: 3 });
  });

  test("routing: weighted, timeouts and breaker in seconds", () => {
    const pool = parsePoolConfig(issueExample, { strategy: "weighted", maxAttempts: 2, streamHeadTimeoutSeconds: 30, headTimeoutSeconds: 300, circuitBreaker: { failures: 3, openSeconds: 10 } }, "t");
    expect(pool.routing).toEqual({ strategy: "weighted", maxAttempts: 2, streamHeadTimeoutMs: 30_000, headTimeoutMs: 300_000, breaker: { failures: 3, openMs: 10_000 } });
    expect(parsePoolConfig(issueExample, undefined, "t").routing).toEqual(DEFAULT_ROUTING);
  });

  test("a Bedrock endpoint may point at a local stand-in; a model may be removed with null", () => {
    const pool = parsePoolConfig([{ name: "b", type: "bedrock", region: "eu-west-1", endpoint: "http://127.0.0.1:4000/", models: { "claude-3-haiku": null }, inferenceProfile: "global", betas: ["context-1m-2025-08-07"], awsProfile: "bedrock-prod" }], undefined, "t");
    expect(pool.upstreams[0]).toMatchObject({ endpoint: "http://127.0.0.1:4000", models: { "claude-3-haiku": null }, inferenceProfile: "global", betas: ["context-1m-2025-08-07"], awsProfile: "bedrock-prod" });
  });

  test("errors name the member and the field", () => {
    refused(() => parsePoolConfig([], undefined, "tenants.acme"), "tenants.acme.upstreams must be a non-empty list");
    refused(() => parsePoolConfig([{ ...issueExample[0], apiKeyEnv: "X" }], undefined, "tenants.acme"), 'tenants.acme.upstreams[0] "anthropic-a": set exactly one of apiKeyFile, apiKeyEnv (got apiKeyFile and apiKeyEnv)');
    refused(() => parsePoolConfig([{ name: "a", type: "anthropic" }], undefined, "t"), 't.upstreams[0] "a": set exactly one of apiKeyFile, apiKeyEnv');
    refused(() => parsePoolConfig([issueExample[0], { ...issueExample[1], apiKeyfile: "/x" }], undefined, "t"), 't.upstreams[1] "anthropic-b": unknown field "apiKeyfile"');
    refused(() => parsePoolConfig([{ ...issueExample[0], url: "http://api.anthropic.com" }], undefined, "t"), 't.upstreams[0] "anthropic-a".url must use https://');
    refused(() => parsePoolConfig([{ ...issueExample[0], url: "https://x/?a=1" }], undefined, "t"), "must not carry a query");
    refused(() => parsePoolConfig([{ ...issueExample[0], type: "openai" }], undefined, "t"), 't.upstreams[0] "anthropic-a".type must be "anthropic" or "bedrock", got "openai"');
    refused(() => parsePoolConfig([{ ...issueExample[0], name: "Anthropic A" }], undefined, "t"), "t.upstreams[0].name must be 1 to 63 characters");
    refused(() => parsePoolConfig([issueExample[0], issueExample[0]], undefined, "t"), 'the name "anthropic-a" is used twice');
    refused(() => parsePoolConfig([{ ...issueExample[0], weight: -1 }], undefined, "t"), 't.upstreams[0] "anthropic-a".weight must be a number from 0');
    refused(() => parsePoolConfig([{ ...issueExample[1], apiKeyEnv: "NOT A NAME" }], undefined, "t"), "apiKeyEnv must be an environment variable name");
    refused(() => parsePoolConfig([{ name: "b", type: "bedrock" }], undefined, "t"), 't.upstreams[0] "b".region must be a non-empty string');
    refused(() => parsePoolConfig([{ name: "b", type: "bedrock", region: "virginia" }], undefined, "t"), "must be an AWS Region such as us-east-1");
    refused(() => parsePoolConfig([{ name: "b", type: "bedrock", region: "us-east-1", models: { "claude x": "y" } }], undefined, "t"), '"claude x" is not an Anthropic model id');
    refused(() => parsePoolConfig([{ name: "b", type: "bedrock", region: "us-east-1", models: { "claude-x": "a b" } }], undefined, "t"), 't.upstreams[0] "b".models.claude-x must be a Bedrock model id');
    refused(() => parsePoolConfig([{ name: "b", type: "bedrock", region: "us-east-1", inferenceProfile: "eu" }], undefined, "t"), 'inferenceProfile must be "geo", "global" or "none"');
    refused(() => parsePoolConfig([{ name: "b", type: "bedrock", region: "us-east-1", apiKeyFile: "/x" }], undefined, "t"), 'unknown field "apiKeyFile"');
  });

  test("routing errors", () => {
    refused(() => parsePoolConfig(issueExample, { strategy: "round-robin" }, "t"), 't.routing.strategy must be "failover" or "weighted"');
    refused(() => parsePoolConfig(issueExample, { maxAttempts: 0 }, "t"), "t.routing.maxAttempts must be a whole number from 1 to 10");
    refused(() => parsePoolConfig(issueExample, { maxAttempts: 2.5 }, "t"), "maxAttempts must be a whole number");
    refused(() => parsePoolConfig(issueExample, { retries: 2 }, "t"), 't.routing: unknown field "retries"');
    refused(() => parsePoolConfig(issueExample, { circuitBreaker: { failures: 0 } }, "t"), "t.routing.circuitBreaker.failures must be a whole number from 1");
    refused(() => parsePoolConfig([{ ...issueExample[0], weight: 0 }], { strategy: "weighted" }, "t"), 'strategy is "weighted" but every upstream has weight 0');
  });
});

describe("the one-upstream shorthand", () => {
  test("today's upstream + key file is a pool of one named anthropic", () => {
    expect(poolConfigOfTenant({ upstream: "https://api.anthropic.com/", upstreamApiKeyFile: "/k" }, "tenants.acme")).toEqual({
      upstreams: [{ name: "anthropic", type: "anthropic", url: "https://api.anthropic.com", key: { kind: "file", path: "/k" }, weight: 1 }],
      routing: DEFAULT_ROUTING,
    });
    expect(poolConfigOfTenant({ upstreamApiKeyEnv: "KEY" }, "t").upstreams[0]).toMatchObject({ url: "https://api.anthropic.com", key: { kind: "env", name: "KEY" } });
    expect(poolConfigOfTenant({ upstream: "http://127.0.0.1:9000", upstreamApiKey: "sk-ant-x" }, "t").upstreams[0]).toMatchObject({ url: "http://127.0.0.1:9000", key: { kind: "inline", value: "sk-ant-x" } });
  });
  test("with upstreams, the shorthand fields are refused, naming them", () => {
    refused(() => poolConfigOfTenant({ upstreams: issueExample, upstream: "https://api.anthropic.com", upstreamApiKeyEnv: "K" }, "tenants.acme"), 'tenants.acme: set either "upstreams" or "upstream" and "upstreamApiKeyEnv", not both');
    expect(poolConfigOfTenant({ upstreams: issueExample, routing: { strategy: "weighted" } }, "t").routing.strategy).toBe("weighted");
  });
  test("no key, or two", () => {
    refused(() => poolConfigOfTenant({}, "tenants.acme"), "tenants.acme: set exactly one of upstreamApiKeyFile, upstreamApiKeyEnv, upstreamApiKey");
    refused(() => poolConfigOfTenant({ upstreamApiKey: "a", upstreamApiKeyEnv: "B" }, "t"), "(got upstreamApiKeyEnv and upstreamApiKey)");
  });
});

describe("--upstreams FILE", () => {
  test("reads {upstreams, routing}", () => {
    const pool = readUpstreamsFile("/etc/u.json", () => JSON.stringify({ upstreams: issueExample, routing: { strategy: "weighted" } }));
    expect(pool.upstreams).toHaveLength(3);
    expect(pool.routing.strategy).toBe("weighted");
  });
  test("a file that is not JSON, or has other fields, is named", () => {
    refused(() => readUpstreamsFile("/etc/u.json", () => "{"), "cannot read the upstreams file /etc/u.json");
    refused(() => readUpstreamsFile("/etc/u.json", () => { throw new Error("ENOENT: no such file"); }), "cannot read the upstreams file /etc/u.json: ENOENT");
    refused(() => readUpstreamsFile("/etc/u.json", () => JSON.stringify({ upstream: [] })), '/etc/u.json: unknown field "upstream"');
    refused(() => readUpstreamsFile("/etc/u.json", () => "[]"), "/etc/u.json must be an object");
  });
});
