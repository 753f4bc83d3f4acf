import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { ACCESS_DENIED, startBedrockStandin, THROTTLED, UNAVAILABLE } from "../../../../test/support/bedrock-standin.ts";
import { type UpstreamRequest, UpstreamUnreachable } from "../types.ts";
import { BedrockUpstream } from "./adaptor.ts";
import { type AwsCredentials, CredentialCache, type CredentialProvider } from "./credentials.ts";
import { BedrockModelMap, DEFAULT_BEDROCK_MODELS } from "./models.ts";

// temporary credentials: each set its own key id and session token
const good = { accessKeyId: "ASIASTANDIN1", secretAccessKey: "standin-secret-1", sessionToken: "token-1" };
const expiring = { accessKeyId: "ASIASTANDIN2", secretAccessKey: "standin-secret-2", sessionToken: "token-2" };
const rotated = { accessKeyId: "ASIASTANDIN3", secretAccessKey: "standin-secret-3", sessionToken: "token-3" };
const standin = startBedrockStandin({ credentials: [good, expiring, rotated] });
afterAll(() => standin.stop());
beforeEach(() => standin.behave({ mode: "normal" }));

function upstream(provider: CredentialProvider = async () => good, overrides: Record<string, string | null> = {}) {
  const credentials = new CredentialCache(provider, { upstream: "bedrock-us", now: Date.now, log: () => {} });
  return new BedrockUpstream({
    name: "bedrock-us",
    region: "us-east-1",
    endpoint: standin.url,
    models: new BedrockModelMap(DEFAULT_BEDROCK_MODELS, "us-east-1", "geo", overrides),
    betas: new Set(DEFAULT_BEDROCK_MODELS.betas),
    credentials,
    now: Date.now,
    newRequestId: () => "req_local",
  });
}

const message = { model: "claude-sonnet-4-5-20250929", max_tokens: 64, messages: [{ role: "user", content: "Hello" }] };
function request(body: unknown = message, over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return {
    route: "messages",
    method: "POST",
    path: "/v1/messages",
    search: "?beta=true",
    headers: new Headers({ "content-type": "application/json", "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14" }),
    body: new TextEncoder().encode(JSON.stringify(body)),
    signal: new AbortController().signal,
    ...over,
  };
}
const send = (u: BedrockUpstream, r: UpstreamRequest, model = "claude-sonnet-4-5-20250929") => u.send(r, model, r.signal);
const sseEvents = (text: string) => text.split("\n\n").filter(Boolean).map((e) => ({ event: /^event: (.*)$/m.exec(e)![1], data: JSON.parse(/^data: (.*)$/m.exec(e)![1]!) }));

describe("InvokeModel", () => {
  test("a JSON answer, signed, the request in Bedrock's form, the model id mapped back", async () => {
    const response = await send(upstream(), request());
    expect(response.status).toBe(200);
    const answer = await response.json();
    expect(answer).toMatchObject({ type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [{ type: "text" }], usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) } });
    const call = standin.invocations().at(-1)!;
    expect(call.operation).toBe("invoke");
    expect(call.modelId).toBe("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(call.rawPath).toBe("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke");
    expect(JSON.parse(call.body)).toEqual({ max_tokens: 64, messages: [{ role: "user", content: "Hello" }], anthropic_version: "bedrock-2023-05-31", anthropic_beta: ["interleaved-thinking-2025-05-14"] });
    expect(call.headers["x-amz-security-token"]).toBe("token-1");
    expect(call.headers["anthropic-version"]).toBeUndefined();
    expect(response.headers.get("request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("a streamed answer as Anthropic SSE, the model mapped back", async () => {
    const response = await send(upstream(), request({ ...message, stream: true }));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const events = sseEvents(await response.text());
    expect(events.map((e) => e.event)).toEqual(["message_start", "content_block_start", "ping", ...Array(13).fill("content_block_delta"), "content_block_stop", "message_delta", "message_stop"]);
    expect(events[0]!.data.message.model).toBe("claude-sonnet-4-5-20250929");
    expect(events.at(-1)!.data).toEqual({ type: "message_stop" });
    expect(standin.invocations().at(-1)!.operation).toBe("invoke-with-response-stream");
  });

  for (const [behaviour, status, type] of [
    [THROTTLED, 429, "rate_limit_error"],
    [UNAVAILABLE, 529, "overloaded_error"],
    [ACCESS_DENIED, 403, "permission_error"],
    [{ mode: "fail", errorType: "ValidationException", status: 400, message: "messages: at least one message is required" }, 400, "invalid_request_error"],
  ] as const) {
    test(`${behaviour.mode === "fail" ? behaviour.errorType : ""} → ${status} ${type}`, async () => {
      standin.behave(behaviour);
      for (const stream of [false, true]) {
        const response = await send(upstream(), request({ ...message, stream }));
        expect(response.status).toBe(status);
        const body = await response.json();
        expect(body.type).toBe("error");
        expect(body.error.type).toBe(type);
        expect(body.error.message).toStartWith(`Amazon Bedrock: ${behaviour.mode === "fail" ? behaviour.errorType : ""}: `);
      }
    });
  }

  test("an exception as the stream's first frame is an HTTP error (the pool can still fail over)", async () => {
    standin.behave({ mode: "exception", exceptionType: "throttlingException", afterEvents: 0 });
    const response = await send(upstream(), request({ ...message, stream: true }));
    expect(response.status).toBe(429);
    expect((await response.json()).error.type).toBe("rate_limit_error");
  });

  test("an exception mid-stream becomes the SSE error event that ends the stream", async () => {
    standin.behave({ mode: "exception", exceptionType: "modelStreamErrorException", afterEvents: 4, message: "The model failed mid-answer" });
    const response = await send(upstream(), request({ ...message, stream: true }));
    expect(response.status).toBe(200);
    const events = sseEvents(await response.text());
    expect(events).toHaveLength(5);
    expect(events.at(-1)).toEqual({ event: "error", data: { type: "error", error: { type: "api_error", message: "Amazon Bedrock: modelStreamErrorException: The model failed mid-answer" } } });
  });

  test("an expired session token: fresh credentials, signed again, served", async () => {
    const given: AwsCredentials[] = [expiring, rotated];
    const calls: unknown[] = [];
    const u = upstream(async (options) => (calls.push(options), given.shift() ?? rotated));
    expect((await send(u, request())).status).toBe(200);
    standin.expire("token-2");
    const response = await send(u, request());
    expect(response.status).toBe(200);
    expect(standin.invocations().at(-1)!.headers["x-amz-security-token"]).toBe("token-3");
    expect(calls).toEqual([undefined, { forceRefresh: true }]);
  });

  test("credentials the service does not know: 401 authentication_error (the pool's upstream_auth)", async () => {
    const u = upstream(async () => ({ accessKeyId: "AKIDUNKNOWN", secretAccessKey: "x" }));
    const response = await send(u, request());
    expect(response.status).toBe(401);
    expect((await response.json()).error.message).toStartWith("Amazon Bedrock: UnrecognizedClientException");
    const wrongSecret = upstream(async () => ({ ...good, secretAccessKey: "wrong" }));
    expect((await send(wrongSecret, request())).status).toBe(401);
  });

  test("no credentials at all: the attempt fails (the pool moves on), naming the upstream", async () => {
    const u = upstream(async () => {
      throw new Error("Could not load credentials from any providers");
    });
    expect(await send(u, request()).catch((e) => (e as Error).message)).toBe("upstream bedrock-us: no AWS credentials: Could not load credentials from any providers");
  });

  test("a body that is not JSON is a 400 here, nothing sent", async () => {
    const before = standin.stats.requests;
    const r = request();
    r.body = new TextEncoder().encode("{not json");
    expect((await send(upstream(), r)).status).toBe(400);
    expect(standin.stats.requests).toBe(before);
  });

  test("unreachable: UpstreamUnreachable", async () => {
    const dead = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const url = `http://127.0.0.1:${dead.port}`;
    await dead.stop(true);
    const u = new BedrockUpstream({ name: "gone", region: "us-east-1", endpoint: url, models: new BedrockModelMap(DEFAULT_BEDROCK_MODELS, "us-east-1", "geo"), betas: new Set(), credentials: new CredentialCache(async () => good, { upstream: "gone", now: Date.now, log: () => {} }), now: Date.now, newRequestId: () => "r" });
    expect(await send(u, request()).catch((e) => e)).toBeInstanceOf(UpstreamUnreachable);
  });
});

describe("count_tokens and models", () => {
  test("count_tokens → CountTokens on the foundation model, in the Anthropic shape", async () => {
    const r = request({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "count me" }] }, { route: "count_tokens", path: "/v1/messages/count_tokens" });
    const response = await send(upstream(), r, "claude-sonnet-4-5");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ input_tokens: expect.any(Number) });
    const call = standin.invocations().at(-1)!;
    expect(call.operation).toBe("count-tokens");
    expect(call.modelId).toBe("anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(JSON.parse(call.body)).toMatchObject({ anthropic_version: "bedrock-2023-05-31", max_tokens: 1 });
  });

  test("which requests it supports: only its models; no CountTokens through an application profile", () => {
    const u = upstream(undefined, { "claude-haiku-4-5": "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p" });
    const messages = request();
    const count = request(message, { route: "count_tokens" });
    expect(u.supports(messages, "claude-sonnet-4-5")).toBe(true);
    expect(u.supports(messages, "claude-fable-5-1")).toBe(false);
    expect(u.supports(messages, undefined)).toBe(false);
    expect(u.supports(count, "claude-sonnet-4-5")).toBe(true);
    expect(u.supports(count, "claude-haiku-4-5")).toBe(false);
    expect(u.supports(request(null, { route: "models", method: "GET" }), undefined)).toBe(true);
  });

  test("/v1/models lists what it serves; /v1/models/{id} one of them, or 404", async () => {
    const u = upstream();
    const list = await (await u.send(request(null, { route: "models", method: "GET", path: "/v1/models", body: null }), undefined, new AbortController().signal)).json();
    expect(list.has_more).toBe(false);
    expect(list.data.map((m: { id: string }) => m.id)).toEqual(Object.keys(DEFAULT_BEDROCK_MODELS.models));
    expect(list.data[0]).toEqual({ type: "model", id: "claude-opus-4-6", display_name: "Claude Opus 4.6", created_at: "2026-02-05T00:00:00Z" });
    const one = await u.send(request(null, { route: "models", method: "GET", path: "/v1/models/claude-sonnet-4-5-20250929", body: null }), undefined, new AbortController().signal);
    expect((await one.json()).id).toBe("claude-sonnet-4-5");
    const none = await u.send(request(null, { route: "models", method: "GET", path: "/v1/models/claude-fable-5-1", body: null }), undefined, new AbortController().signal);
    expect(none.status).toBe(404);
    expect(u.models()).toContain("claude-haiku-4-5");
  });
});
