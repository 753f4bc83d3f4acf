/**
 * Bedrock's `application/vnd.amazon.eventstream` answer as the SSE the Anthropic API sends,
 * event by event as frames arrive (a TransformStream: nothing is held beyond the frame being
 * read). Frames are decoded by the AWS SDK's codec (`@smithy/eventstream-codec`: prelude, typed
 * headers, both CRC32s); the only code here that touches the framing is the split of the byte
 * stream at each frame's declared length, which the codec leaves to its caller.
 * Each `chunk` event carries `{"bytes": base64 of one Anthropic stream event}` (and padding):
 * that event's JSON is passed on as it is, except `message_start`, whose model becomes the id the
 * client asked for, and `message_stop`, which loses Bedrock's `amazon-bedrock-invocationMetrics`.
 * An exception frame becomes the SSE `error` event the Anthropic API sends mid-stream, and ends
 * the stream.
 */
import { EventStreamCodec, type MessageHeaders } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import type { AnthropicErrorType } from "../../http/errors.ts";
import { errorName, mapBedrockError, messageOf, sseErrorEvent } from "./errors.ts";

/** A frame's prelude is 12 bytes, its end a 4-byte CRC; AWS caps a message at 16 MiB. */
const PRELUDE = 12;
const MAX_FRAME = 16 * 1024 * 1024;

export interface StreamFailure {
  status: number;
  type: AnthropicErrorType;
  message: string;
}

/** The transform, and what it saw (the adaptor reads `failure` to fail over on a first-frame exception). */
export class EventStreamToSse {
  /** Set when the stream ended in an exception (or a broken frame). */
  failure: StreamFailure | undefined;
  /** Anthropic events passed on so far. */
  events = 0;
  readonly stream: TransformStream<Uint8Array, Uint8Array>;
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private readonly encoder = new TextEncoder();
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly model: string) {
    this.stream = new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => this.push(chunk, controller),
      flush: (controller) => {
        if (this.pending.byteLength > 0 && !this.failure) this.fail(controller, { status: 502, type: "api_error", message: "Amazon Bedrock: the stream ended in the middle of a frame" });
      },
    });
  }

  private push(chunk: Uint8Array, controller: TransformStreamDefaultController<Uint8Array>): void {
    if (this.failure) return;
    this.pending = this.pending.byteLength === 0 ? chunk : concat(this.pending, chunk);
    let offset = 0;
    const out: string[] = [];
    while (this.pending.byteLength - offset >= PRELUDE) {
      const view = new DataView(this.pending.buffer, this.pending.byteOffset + offset);
      const length = view.getUint32(0);
      if (length < PRELUDE + 4 || length > MAX_FRAME) {
        this.flushOut(controller, out);
        return this.fail(controller, { status: 502, type: "api_error", message: `Amazon Bedrock: a stream frame declares ${length} bytes` });
      }
      if (this.pending.byteLength - offset < length) break;
      const frame = this.pending.subarray(offset, offset + length);
      offset += length;
      let failure: StreamFailure | undefined;
      try {
        const message = this.codec.decode(frame);
        failure = this.onMessage(message.headers, message.body, out);
      } catch (e) {
        failure = { status: 502, type: "api_error", message: `Amazon Bedrock: an unreadable stream frame (${(e as Error).message})` };
      }
      if (failure) {
        this.flushOut(controller, out);
        return this.fail(controller, failure);
      }
    }
    this.pending = offset === 0 ? this.pending : this.pending.slice(offset);
    this.flushOut(controller, out);
  }

  /** One decoded frame: an Anthropic event appended to `out`, or the failure it reports. */
  private onMessage(headers: MessageHeaders, body: Uint8Array, out: string[]): StreamFailure | undefined {
    const header = (name: string) => {
      const h = headers[name];
      return h && h.type === "string" ? h.value : undefined;
    };
    const kind = header(":message-type");
    if (kind === "exception" || kind === "error") {
      const name = errorName(header(":exception-type") ?? header(":error-code"));
      const mapped = mapBedrockError(name, 500);
      const detail = header(":error-message") ?? messageOf(new TextDecoder().decode(body)) ?? "no message";
      return { ...mapped, message: `Amazon Bedrock: ${name || "stream error"}: ${detail}` };
    }
    if (kind !== "event" || header(":event-type") !== "chunk") return undefined; // other events carry nothing for the client
    const payload = JSON.parse(new TextDecoder().decode(body)) as { bytes?: unknown };
    if (typeof payload.bytes !== "string") return undefined;
    const json = Buffer.from(payload.bytes, "base64").toString("utf8");
    out.push(this.sseEvent(json));
    this.events++;
    return undefined;
  }

  private sseEvent(json: string): string {
    const event = JSON.parse(json) as { type?: unknown; message?: { model?: unknown } };
    const type = typeof event.type === "string" ? event.type : "unknown";
    let data = json;
    if (type === "message_start" && event.message && typeof event.message === "object") {
      event.message.model = this.model;
      data = JSON.stringify(event);
    } else if (type === "message_stop" && "amazon-bedrock-invocationMetrics" in event) {
      delete (event as Record<string, unknown>)["amazon-bedrock-invocationMetrics"];
      data = JSON.stringify(event);
    }
    return `event: ${type}\ndata: ${data}\n\n`;
  }

  private flushOut(controller: TransformStreamDefaultController<Uint8Array>, out: string[]): void {
    if (out.length > 0) controller.enqueue(this.encoder.encode(out.join("")));
    out.length = 0;
  }

  private fail(controller: TransformStreamDefaultController<Uint8Array>, failure: StreamFailure): void {
    this.failure = failure;
    this.pending = new Uint8Array(0);
    controller.enqueue(this.encoder.encode(sseErrorEvent(failure.type, failure.message)));
    controller.terminate();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
