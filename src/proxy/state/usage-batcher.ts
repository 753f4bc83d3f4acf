/**
 * Groups the usage writes of answers that end close together (settle, record, release) into one
 * store call: one SQLite transaction (one commit instead of one per request, the largest cost of
 * the request path on a file) or one burst of pipelined Redis scripts.
 *
 * A write waits at most `maxDelayMs` (default 2 ms) or until `maxBatch` writes are waiting. Its
 * promise settles when the store took it, or (the store down) the spool did, as for a single
 * write. What that costs in durability: a process SIGKILLed in those few ms loses the writes not
 * yet sent, as a single write could already be lost between the answer's end and its commit or
 * fdatasync (docs/proxy.md "When the state store fails"). SIGTERM flushes (`close`).
 *
 * A batch the store refuses as a whole for any reason but being down (a bad record) is retried
 * write by write, so only the one at fault fails.
 */
import type { GatewayState, UsageWrite } from "./types.ts";

export interface UsageBatcherOptions {
  maxDelayMs?: number;
  maxBatch?: number;
}

interface Pending {
  write: UsageWrite;
  resolve(): void;
  reject(e: unknown): void;
}

export class UsageBatcher {
  private pending: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly maxDelayMs: number;
  private readonly maxBatch: number;

  constructor(
    private readonly state: Pick<GatewayState, "writeUsage">,
    options: UsageBatcherOptions = {},
  ) {
    this.maxDelayMs = options.maxDelayMs ?? 2;
    this.maxBatch = options.maxBatch ?? 256;
  }

  /** Resolves once the write is in the store (or the spool); rejects as a single write would. */
  write(write: UsageWrite): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ write, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxDelayMs);
    });
  }

  /** Sends what is waiting now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const sent = this.send(batch).finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }

  private async send(batch: Pending[]): Promise<void> {
    try {
      await this.state.writeUsage(batch.map((p) => p.write));
      for (const p of batch) p.resolve();
    } catch (e) {
      if (batch.length === 1) return (batch[0] as Pending).reject(e);
      await Promise.all(
        batch.map((p) =>
          this.state.writeUsage([p.write]).then(
            () => p.resolve(),
            (err: unknown) => p.reject(err),
          ),
        ),
      );
    }
  }

  /** Sends what is waiting and waits for every batch sent so far (shutdown). */
  async close(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
