import { describe, expect, test } from "bun:test";
import { cacheWrites, relay, UsageScanner, type RelayOutcome } from "./usage.ts";

const enc = new TextEncoder();
const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

// Shapes as the Messages API sends them (Claude Code traffic: mostly cache reads, 1 h cache writes).
const START = sse("message_start", {
  type: "message_start",
  message: {
    id: "msg_01", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [], stop_reason: null, stop_sequence: null,
    usage: { input_tokens: 12, cache_creation_input_tokens: 3000, cache_read_input_tokens: 41000, cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 }, output_tokens: 1, service_tier: "standard" },
  },
});
const BODY = [
  sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
  sse("ping", { type: "ping" }),
  sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Grüße, 世界 🌍 — déjà vu" } }),
  sse("content_block_stop", { type: "content_block_stop", index: 0 }),
].join("");
const DELTA = sse("message_delta", {
  type: "message_delta",
  delta: { stop_reason: "end_turn", stop_sequence: null },
  usage: { input_tokens: 12, cache_creation_input_tokens: 3000, cache_read_input_tokens: 41000, output_tokens: 345, server_tool_use: { web_search_requests: 2, web_fetch_requests: 1 } },
});
const STOP = sse("message_stop", { type: "message_stop" });
const WHOLE = enc.encode(START + BODY + DELTA + STOP);

const EXPECTED = {
  model: "claude-sonnet-4-5-20250929",
  inputTokens: 12,
  outputTokens: 345,
  cacheCreationInputTokens: 3000,
  cacheCreation5mInputTokens: 1000,
  cacheCreation1hInputTokens: 2000,
  cacheReadInputTokens: 41000,
  serverToolUse: { web_search_requests: 2, web_fetch_requests: 1 },
  serviceTier: "standard",
};

function scan(chunks: Uint8Array[], contentType = "text/event-stream; charset=utf-8") {
  const scanner = new UsageScanner(contentType);
  for (const c of chunks) scanner.push(c);
  return scanner.finish();
}

/** Splits bytes at the given offsets (which may fall inside a multi-byte character). */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.slice(from, cut));
    from = cut;
  }
  return out;
}

describe("UsageScanner, SSE", () => {
  test("reads every usage field from message_start and the cumulative message_delta", () => {
    expect(scan([WHOLE])).toEqual(EXPECTED);
  });

  test("gives the same figures for every split of the stream into two chunks, and byte by byte", () => {
    for (let cut = 1; cut < WHOLE.length; cut++) expect(scan(splitAt(WHOLE, [cut]))).toEqual(EXPECTED);
    expect(scan(Array.from(WHOLE, (b) => Uint8Array.of(b)))).toEqual(EXPECTED);
  });

  test("random multi-way splits, including inside multi-byte UTF-8 sequences", () => {
    const firstMultiByte = WHOLE.findIndex((b) => b >= 0x80);
    expect(firstMultiByte).toBeGreaterThan(0);
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 200; i++) {
      const cuts = [firstMultiByte + 1, ...Array.from({ length: 8 }, () => 1 + Math.floor(rand() * (WHOLE.length - 1)))].sort((a, b) => a - b);
      expect(scan(splitAt(WHOLE, [...new Set(cuts)]))).toEqual(EXPECTED);
    }
  });

  test("CRLF line endings", () => {
    expect(scan([enc.encode((START + BODY + DELTA + STOP).replaceAll("\n", "\r\n"))])).toEqual(EXPECTED);
  });

  test("a stream cut before message_delta keeps what message_start said", () => {
    const usage = scan([enc.encode(START + BODY)]);
    expect(usage).toMatchObject({ inputTokens: 12, outputTokens: 1, cacheReadInputTokens: 41000, cacheCreation1hInputTokens: 2000 });
  });

  test("a stream cut in the middle of the final delta line keeps the start figures, not a half-parsed line", () => {
    const text = START + BODY + DELTA;
    const usage = scan([enc.encode(text.slice(0, text.length - 30))]);
    expect(usage.outputTokens).toBe(1);
    expect(usage.cacheReadInputTokens).toBe(41000);
  });

  test("a later, smaller figure never lowers a total; a final line without newline is read at finish", () => {
    const lower = sse("message_delta", { type: "message_delta", delta: {}, usage: { output_tokens: 5 } }).trimEnd();
    const usage = scan([enc.encode(START + DELTA + lower)]);
    expect(usage.outputTokens).toBe(345);
    const noNewline = scan([enc.encode(START + `data: ${JSON.stringify({ type: "message_delta", delta: {}, usage: { output_tokens: 9 } })}`)]);
    expect(noNewline.outputTokens).toBe(9);
  });

  test("malformed, negative or non-numeric figures are ignored", () => {
    const bad = "data: {not json message_delta\n\n" + sse("message_delta", { type: "message_delta", usage: { output_tokens: -3, input_tokens: "7", cache_read_input_tokens: null } });
    expect(scan([enc.encode(bad)])).toEqual({});
  });

  test("an enormous line is dropped without being buffered whole, and reading resumes after it", () => {
    const huge = `data: ${"x".repeat(600_000)}\n\n`;
    const chunks = splitAt(enc.encode(huge + START), Array.from({ length: 40 }, (_, i) => (i + 1) * 16_000));
    expect(scan(chunks).cacheReadInputTokens).toBe(41000);
  });
});

describe("UsageScanner, JSON", () => {
  const body = JSON.stringify({
    id: "msg_02", type: "message", role: "assistant", model: "claude-haiku-4-5-20251001", content: [{ type: "text", text: "ok ✓" }], stop_reason: "end_turn",
    usage: { input_tokens: 20, cache_creation_input_tokens: 500, cache_read_input_tokens: 9000, cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 0 }, output_tokens: 7, server_tool_use: { web_search_requests: 1 }, service_tier: "priority" },
  });
  const bytes = enc.encode(body);

  test("reads the body's usage whatever the chunking", () => {
    for (const cuts of [[], [1], [bytes.length - 3], Array.from({ length: 20 }, (_, i) => i * 13 + 1)]) {
      expect(scan(splitAt(bytes, cuts), "application/json")).toEqual({
        model: "claude-haiku-4-5-20251001", inputTokens: 20, outputTokens: 7, cacheCreationInputTokens: 500, cacheCreation5mInputTokens: 500, cacheCreation1hInputTokens: 0,
        cacheReadInputTokens: 9000, serverToolUse: { web_search_requests: 1 }, serviceTier: "priority",
      });
    }
  });

  test("a truncated or non-JSON body yields no usage and no exception", () => {
    expect(scan([bytes.slice(0, 40)], "application/json")).toEqual({});
    expect(scan([enc.encode("<html>")], "text/html")).toEqual({});
  });
});

describe("cacheWrites", () => {
  test("uses the API's split, and counts unsplit writes as 5-minute ones", () => {
    expect(cacheWrites({ cacheCreationInputTokens: 3000, cacheCreation5mInputTokens: 1000, cacheCreation1hInputTokens: 2000 })).toEqual({ fiveMinute: 1000, oneHour: 2000 });
    expect(cacheWrites({ cacheCreationInputTokens: 700 })).toEqual({ fiveMinute: 700, oneHour: 0 });
    expect(cacheWrites({ cacheCreationInputTokens: 700, cacheCreation1hInputTokens: 200 })).toEqual({ fiveMinute: 500, oneHour: 200 });
    expect(cacheWrites({})).toEqual({ fiveMinute: 0, oneHour: 0 });
  });
});

describe("relay", () => {
  test("passes every chunk through and reports completion once", async () => {
    const seen: number[] = [];
    const outcomes: RelayOutcome[] = [];
    const source = new Response(WHOLE).body!;
    const out = relay(source, (c) => seen.push(c.byteLength), (o) => outcomes.push(o));
    const text = await new Response(out).text();
    expect(text).toBe(new TextDecoder().decode(WHOLE));
    expect(seen.reduce((a, b) => a + b, 0)).toBe(WHOLE.length);
    expect(outcomes).toEqual(["completed"]);
  });
});
