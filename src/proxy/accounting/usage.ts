/**
 * Reads the model and token usage from a response as it passes through, without holding it
 * back. JSON: the body (kept up to 1 MiB) carries `usage`. SSE: `message_start` carries the
 * first figures and the final `message_delta` the cumulative ones; each field keeps its largest
 * value, so a stream cut short keeps what arrived and a late partial delta never lowers a total.
 */

export interface Usage {
  model?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** All cache writes; `cacheCreation5m` + `cacheCreation1h` when the API gives the split. */
  cacheCreationInputTokens?: number;
  cacheCreation5mInputTokens?: number;
  cacheCreation1hInputTokens?: number;
  cacheReadInputTokens?: number;
  /** `server_tool_use` counts by name, e.g. `{ web_search_requests: 2 }`. */
  serverToolUse?: Record<string, number>;
  serviceTier?: string;
}

const MAX_JSON_BODY = 1 << 20;
/** An SSE line longer than this cannot be a usage event worth reading; it is dropped, not buffered. */
const MAX_SSE_LINE = 256 * 1024;

const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined);

function keepMax(target: Usage, field: "inputTokens" | "outputTokens" | "cacheCreationInputTokens" | "cacheCreation5mInputTokens" | "cacheCreation1hInputTokens" | "cacheReadInputTokens", value: unknown): void {
  const n = count(value);
  if (n !== undefined && n >= (target[field] ?? 0)) target[field] = n;
}

/** Merges one `usage` object into the figures read so far (every field cumulative). */
export function mergeUsage(target: Usage, usage: unknown): void {
  if (typeof usage !== "object" || usage === null) return;
  const u = usage as Record<string, unknown>;
  keepMax(target, "inputTokens", u.input_tokens);
  keepMax(target, "outputTokens", u.output_tokens);
  keepMax(target, "cacheCreationInputTokens", u.cache_creation_input_tokens);
  keepMax(target, "cacheReadInputTokens", u.cache_read_input_tokens);
  if (typeof u.cache_creation === "object" && u.cache_creation !== null) {
    const split = u.cache_creation as Record<string, unknown>;
    keepMax(target, "cacheCreation5mInputTokens", split.ephemeral_5m_input_tokens);
    keepMax(target, "cacheCreation1hInputTokens", split.ephemeral_1h_input_tokens);
  }
  if (typeof u.server_tool_use === "object" && u.server_tool_use !== null) {
    for (const [name, value] of Object.entries(u.server_tool_use as Record<string, unknown>)) {
      const n = count(value);
      if (n === undefined) continue;
      target.serverToolUse ??= {};
      if (n >= (target.serverToolUse[name] ?? 0)) target.serverToolUse[name] = n;
    }
  }
  if (typeof u.service_tier === "string") target.serviceTier = u.service_tier;
}

/**
 * Cache writes by lifetime. Without the API's split every write is a 5-minute one (the API's
 * default TTL); with a partial split the rest is 5-minute too.
 */
export function cacheWrites(usage: Usage): { fiveMinute: number; oneHour: number } {
  const total = usage.cacheCreationInputTokens ?? 0;
  const oneHour = usage.cacheCreation1hInputTokens ?? 0;
  const fiveMinute = Math.max(usage.cacheCreation5mInputTokens ?? 0, total - oneHour);
  return { fiveMinute, oneHour };
}

export class UsageScanner {
  readonly usage: Usage = {};
  private readonly decoder = new TextDecoder();
  private readonly sse: boolean;
  private carry = "";
  private skippingLongLine = false;
  private size = 0;

  constructor(contentType: string | null) {
    this.sse = contentType?.includes("text/event-stream") ?? false;
  }

  push(chunk: Uint8Array): void {
    if (this.sse) {
      const text = this.decoder.decode(chunk, { stream: true });
      let start = 0;
      let nl: number;
      while ((nl = text.indexOf("\n", start)) !== -1) {
        const line = this.carry + text.slice(start, nl);
        this.carry = "";
        if (!this.skippingLongLine) this.onSseLine(line.endsWith("\r") ? line.slice(0, -1) : line);
        this.skippingLongLine = false;
        start = nl + 1;
      }
      if (!this.skippingLongLine) {
        this.carry += text.slice(start);
        if (this.carry.length > MAX_SSE_LINE) {
          this.carry = "";
          this.skippingLongLine = true;
        }
      }
    } else if (this.size < MAX_JSON_BODY) {
      this.size += chunk.byteLength;
      this.carry += this.decoder.decode(chunk, { stream: true });
    }
  }

  /** Parses a buffered JSON body (or a last SSE line without newline); call once the body has ended. */
  finish(): Usage {
    if (this.sse) {
      const rest = this.carry + this.decoder.decode();
      this.carry = "";
      if (rest && !this.skippingLongLine) this.onSseLine(rest.endsWith("\r") ? rest.slice(0, -1) : rest);
    } else if (this.carry) {
      this.carry += this.decoder.decode();
      try {
        const body = JSON.parse(this.carry) as { model?: unknown; usage?: unknown };
        if (typeof body.model === "string") this.usage.model = body.model;
        mergeUsage(this.usage, body.usage);
      } catch {
        // a body over 1 MiB or not JSON: no usage to read, the bytes went through untouched
      }
      this.carry = "";
    }
    return this.usage;
  }

  private onSseLine(line: string): void {
    if (!line.startsWith("data:") || (!line.includes('"message_start"') && !line.includes('"message_delta"'))) return;
    try {
      const event = JSON.parse(line.slice(5)) as { type?: string; message?: { model?: unknown; usage?: unknown }; usage?: unknown };
      if (event.type === "message_start") {
        if (typeof event.message?.model === "string") this.usage.model = event.message.model;
        mergeUsage(this.usage, event.message?.usage);
      } else if (event.type === "message_delta") {
        mergeUsage(this.usage, event.usage);
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
