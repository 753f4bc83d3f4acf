/**
 * The same answer from the Anthropic API (the stub) and through the Bedrock adaptor (from the
 * stand-in, which verifies SigV4), read by the official `@anthropic-ai/sdk`: the same objects,
 * streamed and not, the same SSE byte for byte event by event, the same error classes.
 */
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { buildPool } from "../../src/proxy/upstreams/build.ts";
import { parsePoolConfig } from "../../src/proxy/upstreams/config.ts";
import { startStubUpstream, stubUsage } from "../../src/tenant/stub-upstream.ts";
import { startBedrockStandin, THROTTLED, UNAVAILABLE } from "../support/bedrock-standin.ts";
import { servePool } from "../support/pool-harness.ts";

const MESSAGE_ID = "msg_compat_0123456789abcdef";
// The usage the fake model reports, from what both sides see alike (the messages)
const usage = (body: string) => stubUsage(JSON.stringify((JSON.parse(body) as { messages?: unknown }).messages ?? []));
const credentials = { accessKeyId: "ASIACOMPAT", secretAccessKey: "compat-secret", sessionToken: "compat-token" };

const stub = startStubUpstream({ apiKey: "sk-ant-compat", messageId: () => MESSAGE_ID, usage });
const standin = startBedrockStandin({ credentials: [credentials], messageId: () => MESSAGE_ID, usage });
const pool = await buildPool(parsePoolConfig([{ name: "bedrock-us", type: "bedrock", region: "us-east-1", endpoint: standin.url }], undefined, "compat"), {
  tenant: "compat",
  log: () => {},
  now: Date.now,
  random: Math.random,
  newRequestId: () => "req_compat",
  credentials: async () => async () => credentials,
});
const gateway = servePool(pool);
afterAll(() => {
  gateway.stop();
  stub.stop();
  standin.stop();
  pool.close();
});
beforeEach(() => {
  stub.behave({ mode: "normal" });
  standin.behave({ mode: "normal" });
});

const direct = new Anthropic({ baseURL: stub.url, apiKey: "sk-ant-compat", maxRetries: 0 });
const viaBedrock = new Anthropic({ baseURL: gateway.url, apiKey: "not-used-by-bedrock", maxRetries: 0 });
const params = {
  model: "claude-sonnet-4-5-20250929",
  max_tokens: 256,
  system: "Answer briefly.",
  messages: [{ role: "user" as const, content: [{ type: "text" as const, text: "Say hello", cache_control: { type: "ephemeral" as const } }] }],
};

describe("the official SDK reads the same answer from both", () => {
  test("a JSON message", async () => {
    const [a, b] = await Promise.all([direct.messages.create(params), viaBedrock.messages.create(params)]);
    expect(b).toEqual(a);
    expect(b.model).toBe("claude-sonnet-4-5-20250929");
    expect(b.usage.cache_read_input_tokens).toBeGreaterThan(0);
    expect(standin.invocations().at(-1)!.modelId).toBe("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
  });

  test("a streamed message: every event, and the final message", async () => {
    const collect = async (client: Anthropic) => {
      const stream = client.messages.stream(params);
      const events: unknown[] = [];
      for await (const event of stream) events.push(event);
      return { events, final: await stream.finalMessage() };
    };
    const [a, b] = await Promise.all([collect(direct), collect(viaBedrock)]);
    expect(b.events).toEqual(a.events);
    expect(b.final).toEqual(a.final);
    expect(b.events.length).toBeGreaterThan(5);
  });

  test("the SSE itself is the same, byte for byte, event by event", async () => {
    const raw = async (base: string, key: string) => {
      const response = await fetch(`${base}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219" },
        body: JSON.stringify({ ...params, stream: true }),
      });
      expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      return (await response.text()).split(/(?<=\n\n)/);
    };
    const [a, b] = await Promise.all([raw(stub.url, "sk-ant-compat"), raw(gateway.url, "x")]);
    expect(a.length).toBeGreaterThan(5);
    expect(b).toHaveLength(a.length);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBe(a[i] as string);
  });

  test("errors: the same SDK error classes and types", async () => {
    stub.behave({ mode: "fail", status: 429, body: JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "slow down" } }) });
    standin.behave(THROTTLED);
    const [a, b] = await Promise.all([direct.messages.create(params).catch((e) => e), viaBedrock.messages.create(params).catch((e) => e)]);
    expect(a).toBeInstanceOf(Anthropic.RateLimitError);
    expect(b).toBeInstanceOf(Anthropic.RateLimitError);
    expect((b as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    standin.behave(UNAVAILABLE);
    const overloaded = await viaBedrock.messages.create(params).catch((e) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.InternalServerError);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
  });

  test("an exception mid-stream reaches the SDK as the API's mid-stream error", async () => {
    standin.behave({ mode: "exception", exceptionType: "modelStreamErrorException", afterEvents: 3, message: "model failure" });
    const stream = viaBedrock.messages.stream(params);
    const error = await stream.finalMessage().catch((e) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(String((error as Error).message)).toContain("model failure");
  });

  test("count_tokens and the model list", async () => {
    const counted = await viaBedrock.messages.countTokens({ model: params.model, messages: params.messages });
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect(standin.invocations().at(-1)!).toMatchObject({ operation: "count-tokens", modelId: "anthropic.claude-sonnet-4-5-20250929-v1:0" });
    const models = [];
    for await (const model of viaBedrock.models.list()) models.push(model.id);
    expect(models).toContain("claude-sonnet-4-5");
    expect((await viaBedrock.models.retrieve("claude-haiku-4-5")).display_name).toBe("Claude Haiku 4.5");
  });
});
