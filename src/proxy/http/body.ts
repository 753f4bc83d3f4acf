/** Request bodies, bounded by the proxy's limit: small ones read whole (faster upstream, and the estimate can read them), large ones streamed and counted. */

/** Request bodies up to this size are read whole; larger ones stream. */
export const BUFFERED_BODY_LIMIT = 1 << 20;

/** Thrown into a chunked request body that grows past the limit (recognised by class). */
export class BodyTooLarge extends Error {
  readonly code = "body_too_large";
}

export type RequestBody =
  | { kind: "none" }
  | { kind: "whole"; body: Uint8Array<ArrayBuffer> | ArrayBuffer; bytes: number }
  | { kind: "stream"; stream: ReadableStream<Uint8Array>; bytes: number; exceeded(): boolean }
  | { kind: "too_large" };

/**
 * A body without Content-Length, bounded by `limit`: up to `buffered` bytes are read first (so a
 * small body, or one that is already too large, never reaches the upstream); the rest streams
 * on, counted, and errors the upstream request once it grows past the limit.
 */
async function readChunkedBody(body: ReadableStream<Uint8Array>, limit: number, buffered: number): Promise<RequestBody> {
  const reader = body.getReader();
  const head: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      const whole = new Uint8Array(Buffer.concat(head));
      return { kind: "whole", body: whole, bytes: whole.byteLength };
    }
    total += value.byteLength;
    if (total > limit) {
      void reader.cancel().catch(() => {});
      return { kind: "too_large" };
    }
    head.push(value);
    if (total > buffered) break;
  }
  let exceeded = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const first = head.shift();
      if (first) return controller.enqueue(first);
      const { value, done } = await reader.read();
      if (done) return controller.close();
      total += value.byteLength;
      if (total > limit) {
        exceeded = true;
        void reader.cancel().catch(() => {});
        return controller.error(new BodyTooLarge(`request body over ${limit} bytes`));
      }
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { kind: "stream", stream, bytes: total, exceeded: () => exceeded };
}

/**
 * A declared length was checked before this (and Bun holds the client to it); a chunked body is
 * counted. `buffered`: read whole up to this size (the upstream pool passes the limit itself, as
 * failover may send the body again).
 */
export async function readRequestBody(request: Request, limit: number, buffered = BUFFERED_BODY_LIMIT): Promise<RequestBody> {
  if (request.method === "GET" || request.method === "HEAD") return { kind: "none" };
  const lengthHeader = request.headers.get("content-length");
  const length = lengthHeader === null ? Number.NaN : Number(lengthHeader);
  // the usual request, a declared small body: read at once, without `request.body` (a stream object made on first use)
  if (length > 0 && length <= buffered) {
    const body = await request.arrayBuffer();
    return { kind: "whole", body, bytes: body.byteLength };
  }
  if (!request.body) return { kind: "none" };
  if (lengthHeader === null) return readChunkedBody(request.body, limit, buffered);
  if (length <= buffered) {
    const body = await request.arrayBuffer();
    return { kind: "whole", body, bytes: body.byteLength };
  }
  return { kind: "stream", stream: request.body, bytes: length, exceeded: () => false };
}
