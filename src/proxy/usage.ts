/**
 * Reads the model and token usage from a response as it passes through, without holding it
 * back. For SSE the `message_start` and `message_delta` events carry usage; for a JSON
 * response, the body (kept up to 1 MiB) does.
 */

export interface Usage {
  model?: string;
  inputTokens?: number;
  outputTokens?: number;
}

const MAX_JSON_BODY = 1 << 20;

function readUsage(target: Usage, usage: unknown): void {
  if (typeof usage !== "object" || usage === null) return;
  const u = usage as Record<string, unknown>;
  if (typeof u.input_tokens === "number") target.inputTokens = u.input_tokens;
  if (typeof u.output_tokens === "number") target.outputTokens = u.output_tokens;
}

export class UsageScanner {
  readonly usage: Usage = {};
  private readonly decoder = new TextDecoder();
  private readonly sse: boolean;
  private carry = "";
  private size = 0;

  constructor(contentType: string | null) {
    this.sse = contentType?.includes("text/event-stream") ?? false;
  }

  push(chunk: Uint8Array): void {
    if (this.sse) {
      this.carry += this.decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = this.carry.indexOf("\n")) !== -1) {
        this.onSseLine(this.carry.slice(0, nl));
        this.carry = this.carry.slice(nl + 1);
      }
    } else if (this.size < MAX_JSON_BODY) {
      this.size += chunk.byteLength;
      this.carry += this.decoder.decode(chunk, { stream: true });
    }
  }

  /** Parses a buffered JSON body; call once the body has ended. */
  finish(): Usage {
    if (!this.sse && this.carry) {
      try {
        const body = JSON.parse(this.carry) as { model?: string; usage?: unknown };
        if (typeof body.model === "string") this.usage.model = body.model;
        readUsage(this.usage, body.usage);
      } catch {}
      this.carry = "";
    }
    return this.usage;
  }

  private onSseLine(line: string): void {
    if (!line.startsWith("data:") || (!line.includes('"message_start"') && !line.includes('"message_delta"'))) return;
    try {
      const event = JSON.parse(line.slice(5)) as { type?: string; message?: { model?: string; usage?: unknown }; usage?: unknown };
      if (event.type === "message_start") {
        if (typeof event.message?.model === "string") this.usage.model = event.message.model;
        readUsage(this.usage, event.message?.usage);
      } else if (event.type === "message_delta") {
        readUsage(this.usage, event.usage);
      }
    } catch {
      // not our business: the bytes were forwarded already
    }
  }
}

export type RelayOutcome = "completed" | "cancelled" | "failed";

/**
 * Relays a body chunk by chunk, pulling from upstream only when the client reads (no queue
 * beyond the chunk in hand), and reports how it ended: completed, cancelled by the client (which
 * cancels the upstream read), or failed upstream (which errors the client's stream).
 */
export function relay(body: ReadableStream<Uint8Array>, onChunk: (chunk: Uint8Array) => void, onEnd: (outcome: RelayOutcome) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = (outcome: RelayOutcome) => {
    if (!ended) {
      ended = true;
      onEnd(outcome);
    }
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            end("completed");
            controller.close();
            return;
          }
          onChunk(value);
          controller.enqueue(value);
        } catch (e) {
          end("failed");
          controller.error(e);
        }
      },
      cancel(reason) {
        end("cancelled");
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
