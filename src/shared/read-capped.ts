/**
 * Reads a response body to its end, refusing it past `maxBytes` (the reader is cancelled, so a
 * hostile server's never-ending body stops costing memory), and, given a signal, stops waiting
 * when it aborts. Every bounded read of the CLI and the gateway goes through it.
 */
export interface ReadCappedOptions {
  /** The error to throw past the limit. */
  tooLarge: () => Error;
  /** Stop waiting for the next chunk when this aborts, with the error `aborted` gives. */
  signal?: AbortSignal;
  aborted?: (signal: AbortSignal) => Error;
}

export async function readCapped(body: ReadableStream<Uint8Array>, maxBytes: number, options: ReadCappedOptions): Promise<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const { signal } = options;
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    if (!signal) return;
    onAbort = () => reject(options.aborted ? options.aborted(signal) : signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {}); // observed below; never an unhandled rejection
  try {
    for (;;) {
      const { done, value } = await (signal ? Promise.race([reader.read(), aborted]) : reader.read());
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw options.tooLarge();
      chunks.push(value);
    }
  } catch (e) {
    void reader.cancel().catch(() => {});
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return all;
}
