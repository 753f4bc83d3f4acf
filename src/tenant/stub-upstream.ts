/**
 * A stub of the Anthropic Messages API for the local tenant: checks the tenant's key, answers
 * `/v1/messages` (JSON or a realistic SSE stream: message_start, ping, content blocks,
 * message_delta with usage, message_stop), `/v1/messages/count_tokens` and `/v1/models`,
 * records what it received for tests, and can be told to fail, stall or break mid-stream.
 * Usage is reported as the real API does (cache writes with the 5 m / 1 h split, cache reads,
 * server tool use, service tier), computed from the request alone so tests can assert totals.
 * The answers themselves (`messageJson`, `messageEvents`) are shared with the Bedrock Runtime
 * stand-in (test/support/bedrock-standin.ts), so both give the same answer to the same request.
 */

export type StubBehaviour =
  | { mode: "normal"; eventDelayMs?: number }
  | { mode: "fail"; status: number; body: string; headers?: Record<string, string> }
  | { mode: "stall"; ms: number }
  | { mode: "reset-mid-stream" }
  | { mode: "slow"; eventDelayMs: number; events?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: string;
}

export interface StubStats {
  requests: number;
  streamsStarted: number;
  streamsCompleted: number;
  streamsCancelled: number;
}

export const STUB_ANSWER = "Hello from the local agent-runner tenant. Your token was verified by the proxy.";

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export interface StubUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  server_tool_use?: { web_search_requests: number };
  service_tier: "standard";
}

/**
 * The prompt's usage, from the request body alone: a quarter token per byte; with a
 * `cache_control` breakpoint, 80% of it is read from the cache and 10% written (to the 1-hour
 * cache if any breakpoint asks `"ttl":"1h"`, else the 5-minute one); a web search tool counts one search.
 */
export function stubUsage(body: string): StubUsage {
  const total = Math.max(1, Math.round(body.length / 4));
  const cached = body.includes('"cache_control"');
  const read = cached ? Math.floor(total * 0.8) : 0;
  const written = cached ? Math.floor(total * 0.1) : 0;
  const oneHour = cached && /"ttl"\s*:\s*"1h"/.test(body);
  return {
    input_tokens: total - read - written,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: read,
    cache_creation: { ephemeral_5m_input_tokens: oneHour ? 0 : written, ephemeral_1h_input_tokens: oneHour ? written : 0 },
    ...(/"type"\s*:\s*"web_search_/.test(body) ? { server_tool_use: { web_search_requests: 1 } } : {}),
    service_tier: "standard",
  };
}

/** The answer's word count is its output tokens. */
export const stubOutputTokens = (text: string) => text.split(/(?<= )/).length;

export const newStubMessageId = () => `msg_stub_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;

/** The SSE events of an answer (each `event: …\ndata: …\n\n`). */
export function messageEvents(model: string, text: string, usage: StubUsage, id = newStubMessageId()): string[] {
  const words = text.split(/(?<= )/);
  const { cache_creation: _, service_tier: __, ...cumulative } = usage;
  return [
    sse("message_start", { type: "message_start", message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, server_tool_use: undefined, output_tokens: 1 } } }),
    sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    sse("ping", { type: "ping" }),
    ...words.map((w) => sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } })),
    sse("content_block_stop", { type: "content_block_stop", index: 0 }),
    // as the API does: the final delta repeats the cumulative figures
    sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { ...cumulative, output_tokens: words.length } }),
    sse("message_stop", { type: "message_stop" }),
  ];
}

/** The JSON answer to a non-streamed request. */
export function messageJson(model: string, usage: StubUsage, id = "msg_stub", text = STUB_ANSWER) {
  return { id, type: "message", role: "assistant", model, content: [{ type: "text", text }], stop_reason: "end_turn", stop_sequence: null, usage: { ...usage, output_tokens: stubOutputTokens(text) } };
}

/** The words of a `slow` behaviour's answer, or the usual answer. */
export function stubAnswerText(events?: number): string {
  return events ? Array.from({ length: events }, (_, i) => `w${i} `).join("") : STUB_ANSWER;
}

function error(status: number, type: string, message: string): Response {
  return new Response(JSON.stringify({ type: "error", error: { type, message }, request_id: `req_stub_${Date.now()}` }), { status, headers: { "content-type": "application/json" } });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StubOptions {
  apiKey: string;
  port?: number;
  /** Message ids (default random): a fixed one lets two stubs' answers be compared byte for byte. */
  messageId?: () => string;
  /** The usage of a request from its body (default {@link stubUsage}). */
  usage?: (body: string) => StubUsage;
}

export function startStubUpstream(options: StubOptions) {
  let behaviour: StubBehaviour = { mode: "normal" };
  /** The keys accepted, as an organisation holds several during a rotation. */
  let keys = new Set([options.apiKey]);
  const newId = options.messageId ?? newStubMessageId;
  const recorded: RecordedRequest[] = [];
  const stats: StubStats = { requests: 0, streamsStarted: 0, streamsCompleted: 0, streamsCancelled: 0 };

  const commonHeaders = () => ({
    "request-id": `req_stub_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`,
    "anthropic-ratelimit-requests-limit": "1000",
    "anthropic-ratelimit-requests-remaining": "999",
    "anthropic-organization-id": "stub-org",
  });

  function stream(delayMs: number, events: string[], breakMidway: boolean): Response {
    stats.streamsStarted++;
    let index = 0;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (index > 0 && delayMs > 0) await sleep(delayMs);
        if (breakMidway && index === Math.floor(events.length / 2)) {
          controller.error(new Error("stub: connection reset mid-stream"));
          return;
        }
        const event = events[index++];
        if (event === undefined) {
          stats.streamsCompleted++;
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(event));
      },
      cancel() {
        stats.streamsCancelled++;
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...commonHeaders() } });
  }

  async function messages(body: string): Promise<Response> {
    let parsed: { model?: string; stream?: boolean; messages?: unknown[] };
    try {
      parsed = JSON.parse(body);
    } catch {
      return error(400, "invalid_request_error", "request body is not valid JSON");
    }
    const model = parsed.model ?? "claude-stub";
    const usage = (options.usage ?? stubUsage)(body);
    if (behaviour.mode === "stall") await sleep(behaviour.ms);
    if (!parsed.stream) return Response.json(messageJson(model, usage, options.messageId?.()), { headers: commonHeaders() });
    const slow = behaviour.mode === "slow" ? behaviour : undefined;
    const text = stubAnswerText(slow?.events);
    // A reset is only a reset once some events went out: pace them so the headers flush first.
    const delay = slow?.eventDelayMs ?? (behaviour.mode === "normal" ? (behaviour.eventDelayMs ?? 0) : behaviour.mode === "reset-mid-stream" ? 20 : 0);
    return stream(delay, messageEvents(model, text, usage, newId()), behaviour.mode === "reset-mid-stream");
  }

  const server = Bun.serve({
    port: options.port ?? 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname.startsWith("/_stub/")) {
        if (url.pathname === "/_stub/requests") return Response.json(recorded);
        if (url.pathname === "/_stub/stats") return Response.json(stats);
        if (url.pathname === "/_stub/behaviour" && request.method === "POST") {
          behaviour = (await request.json()) as StubBehaviour;
          return new Response(null, { status: 204 });
        }
        if (url.pathname === "/_stub/reset" && request.method === "POST") {
          behaviour = { mode: "normal" };
          recorded.length = 0;
          Object.assign(stats, { requests: 0, streamsStarted: 0, streamsCompleted: 0, streamsCancelled: 0 });
          return new Response(null, { status: 204 });
        }
        return new Response("not found", { status: 404 });
      }
      stats.requests++;
      const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
      const headers: Record<string, string> = {};
      request.headers.forEach((v, k) => (headers[k] = v));
      recorded.push({ method: request.method, path: url.pathname, search: url.search, headers, body });
      if (recorded.length > 50) recorded.shift();

      // the API takes a key as x-api-key or, as the SDKs since 1.x send it, as a Bearer token
      const bearer = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
      if (!keys.has(request.headers.get("x-api-key") ?? bearer ?? "")) return error(401, "authentication_error", "invalid x-api-key");
      if (behaviour.mode === "fail") return new Response(behaviour.body, { status: behaviour.status, headers: { "content-type": "application/json", ...commonHeaders(), ...behaviour.headers } });
      if (request.method === "POST" && url.pathname === "/v1/messages") return messages(body);
      if (request.method === "POST" && url.pathname === "/v1/messages/count_tokens") return Response.json({ input_tokens: Math.max(1, Math.round(body.length / 4)) }, { headers: commonHeaders() });
      if (request.method === "GET" && url.pathname === "/v1/models") return Response.json(modelPage(url.searchParams), { headers: commonHeaders() });
      if (request.method === "GET" && url.pathname.startsWith("/v1/models/")) {
        const id = url.pathname.slice("/v1/models/".length);
        return STUB_MODELS.includes(id) ? Response.json(modelEntry(id), { headers: commonHeaders() }) : error(404, "not_found_error", `model: ${id}`);
      }
      return error(404, "not_found_error", `stub: no route for ${request.method} ${url.pathname}`);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    stop: () => server.stop(true),
    stats,
    /** In process, what `POST /_stub/behaviour` sets. */
    behave(next: StubBehaviour) {
      behaviour = next;
    },
    /** The keys accepted from now on (a rotation: add the new one, later drop the old one). */
    acceptKeys(next: string[]) {
      keys = new Set(next);
    },
    recorded: (): readonly RecordedRequest[] => recorded,
  };
}

/** The models the stub lists (`GET /v1/models`), newest first as the API lists them. */
export const STUB_MODELS = ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-stub"];

const modelEntry = (id: string) => ({ type: "model", id, display_name: id === "claude-stub" ? "Stub model" : id, created_at: "2026-01-01T00:00:00Z" });

/** One page of STUB_MODELS, paged like the API: `limit` (default 20), `after_id`. */
function modelPage(query: URLSearchParams) {
  const limit = Math.max(1, Math.min(1000, Number(query.get("limit") ?? 20) || 20));
  const after = query.get("after_id");
  const start = after ? STUB_MODELS.indexOf(after) + 1 : 0;
  const ids = STUB_MODELS.slice(start, start + limit);
  return { data: ids.map(modelEntry), has_more: start + limit < STUB_MODELS.length, first_id: ids[0] ?? null, last_id: ids[ids.length - 1] ?? null };
}
