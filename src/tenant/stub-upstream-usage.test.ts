/** The stub reports usage the way the real API does, and the proxy's scanner reads all of it. */
import { afterAll, expect, test } from "bun:test";
import { costOf } from "../proxy/accounting/pricing.ts";
import { UsageScanner } from "../proxy/accounting/usage.ts";
import { startStubUpstream, stubOutputTokens, stubUsage } from "./stub-upstream.ts";

const stub = startStubUpstream({ apiKey: "k" });
afterAll(() => stub.stop());

const body = (stream: boolean) =>
  JSON.stringify({
    model: "claude-sonnet-4-5-20250929",
    stream,
    max_tokens: 1000,
    system: [{ type: "text", text: "You are Claude Code. ".repeat(200), cache_control: { type: "ephemeral", ttl: "1h" } }],
    tools: [{ type: "web_search_20250305", name: "web_search" }],
    messages: [{ role: "user", content: "hello ✓" }],
  });

async function call(payload: string) {
  const response = await fetch(`${stub.url}/v1/messages`, { method: "POST", headers: { "x-api-key": "k", "content-type": "application/json" }, body: payload });
  const scanner = new UsageScanner(response.headers.get("content-type"));
  for await (const chunk of response.body!) scanner.push(chunk);
  return scanner.finish();
}

for (const stream of [false, true]) {
  test(`${stream ? "SSE" : "JSON"}: cache reads, 1 h cache writes and a web search, deterministic from the request`, async () => {
    const payload = body(stream);
    const expected = stubUsage(payload);
    expect(expected.cache_read_input_tokens).toBeGreaterThan(expected.input_tokens);
    expect(expected.cache_creation.ephemeral_1h_input_tokens).toBe(expected.cache_creation_input_tokens);
    const usage = await call(payload);
    expect(usage).toEqual({
      model: "claude-sonnet-4-5-20250929",
      inputTokens: expected.input_tokens,
      outputTokens: stubOutputTokens("Hello from the local agent-runner tenant. Your token was verified by the proxy."),
      cacheCreationInputTokens: expected.cache_creation_input_tokens,
      cacheCreation5mInputTokens: 0,
      cacheCreation1hInputTokens: expected.cache_creation_input_tokens,
      cacheReadInputTokens: expected.cache_read_input_tokens,
      serverToolUse: { web_search_requests: 1 },
      serviceTier: "standard",
    });
    expect(costOf(usage, usage.model).unknownModel).toBe(false);
  });
}

test("without cache_control: no cache tokens, the whole prompt is input; 5-minute writes by default", () => {
  const plain = stubUsage(JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(400) }] }));
  expect(plain).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  expect(plain.input_tokens).toBeGreaterThan(100);
  const fiveMinute = stubUsage(JSON.stringify({ system: [{ type: "text", text: "y".repeat(400), cache_control: { type: "ephemeral" } }] }));
  expect(fiveMinute.cache_creation.ephemeral_5m_input_tokens).toBe(fiveMinute.cache_creation_input_tokens);
  expect(fiveMinute.cache_creation_input_tokens).toBeGreaterThan(0);
});
