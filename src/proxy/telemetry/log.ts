/**
 * The gateway's two logs, for every folder: one JSON line per request on stdout (who, what, how it
 * ended, every token kind and the cost; never a prompt or a credential), written by the request's
 * exchange (http/exchange.ts) alone; and operational events (start-up, state store down and back,
 * JWKS, workers) as JSON lines on stderr.
 */

export type EventLevel = "info" | "warn" | "error";

export interface LogLine {
  time: string;
  /** Only on lines an operator must act on (the upstream refused the tenant's key). */
  level?: "warn";
  tenant: string | null;
  method: string;
  route: string;
  status: number;
  duration_ms: number;
  upstream_ttfb_ms?: number;
  sub?: string;
  username?: string;
  /** Email when the token gives one, else the username. */
  display_name?: string;
  groups?: readonly string[];
  model?: string;
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_creation_5m_input_tokens?: number;
  cache_creation_1h_input_tokens?: number;
  cache_read_input_tokens?: number;
  web_search_requests?: number;
  cost_usd?: number;
  /** The model has no price in the table: tokens counted, cost not. */
  cost_unknown?: true;
  upstream_request_id?: string | null;
  /** The upstream that answered, by name, and how many were tried (a pool of upstreams; absent with the tenant's one upstream). */
  upstream?: string;
  attempts?: number;
  /** The upstream's status when the client was answered another (reject_reason upstream_auth). */
  upstream_status?: number;
  reject_reason?: string;
  /** The proxy's own request id (the ledger's key; the `request-id` of answers the proxy gives itself). */
  request_id?: string;
  completed?: boolean;
  /** How an unfinished response ended: the client went away, or the upstream failed. */
  outcome?: "cancelled" | "failed";
  /** A soft budget is exceeded (the request was served). */
  budget_warning?: string;
  /** The usage could not be written to the state store (it is in this line). */
  state_error?: string;
}

/** Lines waiting are written once they reach this size, else within 20 ms. */
const LOG_WRITE_BYTES = 64 * 1024;

/**
 * The request lines on stdout, gathered and written together every 20 ms (or at 64 KiB): one
 * write for many lines, where a write per line cost a system call each on a pipe (systemd,
 * container runtimes). `flush` writes what waits and waits until stdout took it, at most
 * `timeoutMs` (a reader that stopped reading must not hold the shutdown): the shutdown calls it
 * before the process exits, which would otherwise drop what a pipe had not taken yet.
 */
export function stdoutLogger(): { log(line: LogLine): void; flush(timeoutMs?: number): Promise<void> } {
  const writer = Bun.stdout.writer();
  let pending: string[] = [];
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const writeOut = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    writer.write(pending.join(""));
    pending = [];
    bytes = 0;
    void writer.flush();
  };
  return {
    log(line) {
      const text = JSON.stringify(line) + "\n";
      pending.push(text);
      bytes += text.length;
      if (bytes >= LOG_WRITE_BYTES) writeOut();
      else timer ??= setTimeout(writeOut, 20);
    },
    async flush(timeoutMs = 2000) {
      writeOut();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([writer.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    },
  };
}

/** An operational event as its JSON line (without the newline). */
export function eventLine(level: EventLevel, message: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
}

/** Operational events (start-up, state store down/back, JWKS, workers), on stderr. */
export function logEvent(level: EventLevel, message: string, fields: Record<string, unknown> = {}): void {
  console.error(eventLine(level, message, fields));
}
