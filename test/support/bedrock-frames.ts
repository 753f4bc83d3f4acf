/**
 * Bedrock Runtime event-stream frames, encoded by the AWS SDK's codec (as Bedrock's own servers
 * produce them): `chunk` events carrying one Anthropic stream event as base64 (with the random
 * padding `p` Bedrock adds), exception frames, and the framing headers of each.
 */
import { EventStreamCodec, type MessageHeaders } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const str = (value: string) => ({ type: "string" as const, value });

export function frame(headers: MessageHeaders, payload: unknown): Uint8Array {
  return codec.encode({ headers, body: new TextEncoder().encode(JSON.stringify(payload)) });
}

/** One Anthropic stream event (its JSON text, passed as is) in a `chunk` frame. */
export function chunkFrame(eventJson: string, padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"): Uint8Array {
  return frame(
    { ":event-type": str("chunk"), ":content-type": str("application/json"), ":message-type": str("event") },
    { bytes: Buffer.from(eventJson).toString("base64"), ...(padding ? { p: padding } : {}) },
  );
}

/** An exception frame (`throttlingException`, `modelStreamErrorException`…). */
export function exceptionFrame(exceptionType: string, message: string): Uint8Array {
  return frame({ ":exception-type": str(exceptionType), ":content-type": str("application/json"), ":message-type": str("exception") }, { message });
}

export function concatFrames(frames: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.byteLength;
  }
  return out;
}
