import { describe, expect, test } from "bun:test";
import { chunkFrame, concatFrames, exceptionFrame } from "../../../../test/support/bedrock-frames.ts";
import { EventStreamToSse } from "./stream.ts";

const start = JSON.stringify({ type: "message_start", message: { id: "msg_bdrk_1", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } });
const delta = (text: string) => JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } });
const stop = JSON.stringify({ type: "message_stop", "amazon-bedrock-invocationMetrics": { inputTokenCount: 12, outputTokenCount: 3, invocationLatency: 411, firstByteLatency: 201 } });

/** Feeds byte chunks through the transform; returns the SSE text and the converter. */
async function convert(chunks: Uint8Array[], model = "claude-sonnet-4-5") {
  const converter = new EventStreamToSse(model);
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      c.close();
    },
  });
  const text = await new Response(source.pipeThrough(converter.stream)).text();
  return { text, converter };
}

describe("event stream to SSE", () => {
  test("each chunk event becomes the Anthropic SSE event; model mapped back; Bedrock's metrics dropped", async () => {
    const { text, converter } = await convert([concatFrames([chunkFrame(start), chunkFrame(delta("Hello")), chunkFrame(delta(" world")), chunkFrame(stop)])]);
    const expectedStart = JSON.parse(start);
    expectedStart.message.model = "claude-sonnet-4-5";
    expect(text).toBe(
      `event: message_start\ndata: ${JSON.stringify(expectedStart)}\n\n` +
        `event: content_block_delta\ndata: ${delta("Hello")}\n\n` +
        `event: content_block_delta\ndata: ${delta(" world")}\n\n` +
        `event: message_stop\ndata: {"type":"message_stop"}\n\n`,
    );
    expect(converter.events).toBe(4);
    expect(converter.failure).toBeUndefined();
  });

  test("frames cut at any byte boundary give the same events", async () => {
    const bytes = concatFrames([chunkFrame(start), chunkFrame(delta("a")), chunkFrame(stop)]);
    const whole = (await convert([bytes])).text;
    for (const size of [1, 3, 7, 64]) {
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < bytes.byteLength; i += size) pieces.push(bytes.slice(i, i + size));
      expect((await convert(pieces)).text).toBe(whole);
    }
  });

  test("events are passed on as their frames arrive, not when the stream ends", async () => {
    const converter = new EventStreamToSse("m");
    const writer = converter.stream.writable.getWriter();
    const reader = converter.stream.readable.getReader();
    void writer.write(chunkFrame(start));
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toStartWith("event: message_start\n");
    void writer.write(chunkFrame(delta("x")));
    expect(new TextDecoder().decode((await reader.read()).value)).toStartWith("event: content_block_delta\n");
    void writer.close();
    expect((await reader.read()).done).toBe(true);
  });

  test("an exception frame mid-stream becomes the SSE error event, and ends the stream", async () => {
    const { text, converter } = await convert([concatFrames([chunkFrame(start), chunkFrame(delta("a")), exceptionFrame("throttlingException", "Too many tokens, please wait"), chunkFrame(delta("never"))])]);
    const events = text.split("\n\n").filter(Boolean);
    expect(events).toHaveLength(3);
    expect(events[2]).toBe('event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"Amazon Bedrock: throttlingException: Too many tokens, please wait"}}');
    expect(converter.failure).toEqual({ status: 429, type: "rate_limit_error", message: "Amazon Bedrock: throttlingException: Too many tokens, please wait" });
    expect(text).not.toContain("never");
  });

  for (const [exception, type] of [["serviceUnavailableException", "overloaded_error"], ["modelStreamErrorException", "api_error"], ["internalServerException", "api_error"], ["validationException", "invalid_request_error"], ["someNewException", "api_error"]] as const) {
    test(`${exception} → ${type}`, async () => {
      const { text } = await convert([exceptionFrame(exception, "m")]);
      expect(JSON.parse(text.split("data: ")[1]!).error.type).toBe(type);
    });
  }

  test("a corrupted frame (bad CRC) or a stream cut mid-frame ends with an api_error event", async () => {
    const corrupted = chunkFrame(delta("x"));
    corrupted[corrupted.byteLength - 1]! ^= 0xff;
    const bad = await convert([concatFrames([chunkFrame(start), corrupted])]);
    expect(bad.text.split("\n\n").filter(Boolean)).toHaveLength(2);
    expect(bad.converter.failure?.message).toContain("an unreadable stream frame");
    const cut = chunkFrame(delta("x"));
    const truncated = await convert([concatFrames([chunkFrame(start), cut.slice(0, 20)])]);
    expect(truncated.converter.failure?.message).toBe("Amazon Bedrock: the stream ended in the middle of a frame");
    expect(truncated.text).toEndWith('"type":"api_error","message":"Amazon Bedrock: the stream ended in the middle of a frame"}}\n\n');
  });

  test("a frame declaring an absurd length is refused at once (never buffered)", async () => {
    const bogus = new Uint8Array(16);
    new DataView(bogus.buffer).setUint32(0, 0x7fffffff);
    const { converter } = await convert([bogus]);
    expect(converter.failure?.message).toContain("declares 2147483647 bytes");
  });
});
