/**
 * Reads the model and token usage from a response as it passes through, without holding it
 * back: every chunk is forwarded the moment it arrives. For SSE the `message_start` and
 * `message_delta` events carry usage; for a JSON response, the body (kept up to 1 MiB) does.
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

/** onDone runs when the body completed; an aborted stream is reported by the caller. */
export function usageTap(contentType: string | null, onDone: (usage: Usage, completed: boolean) => void): TransformStream<Uint8Array, Uint8Array> {
  const usage: Usage = {};
  const decoder = new TextDecoder();
  const sse = contentType?.includes("text/event-stream") ?? false;
  let carry = "";
  let size = 0;
  let finished = false;
  const finish = (completed: boolean) => {
    if (finished) return;
    finished = true;
    onDone(usage, completed);
  };
  const onSseLine = (line: string) => {
    if (!line.startsWith("data:") || (!line.includes('"message_start"') && !line.includes('"message_delta"'))) return;
    try {
      const event = JSON.parse(line.slice(5)) as { type?: string; message?: { model?: string; usage?: unknown }; usage?: unknown };
      if (event.type === "message_start") {
        if (typeof event.message?.model === "string") usage.model = event.message.model;
        readUsage(usage, event.message?.usage);
      } else if (event.type === "message_delta") {
        readUsage(usage, event.usage);
      }
    } catch {
      // not our business: the bytes were forwarded already
    }
  };
  return new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      if (sse) {
        carry += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = carry.indexOf("\n")) !== -1) {
          onSseLine(carry.slice(0, nl).trimEnd());
          carry = carry.slice(nl + 1);
        }
      } else if (size < MAX_JSON_BODY) {
        size += chunk.byteLength;
        carry += decoder.decode(chunk, { stream: true });
      }
    },
    flush() {
      if (!sse && carry) {
        try {
          const body = JSON.parse(carry) as { model?: string; usage?: unknown };
          if (typeof body.model === "string") usage.model = body.model;
          readUsage(usage, body.usage);
        } catch {}
      }
      finish(true);
    },
  });
}
