/**
 * Head timeouts for many attempts at once with one coarse timer, instead of a timer, a promise
 * race and a listener per attempt (measured on the request path: several µs of CPU a request).
 * Each attempt is one object the pool hands in (no closure, no cancel function to make): its
 * `expire` runs at the first tick after its deadline, or after its client went away; the tick is a tenth of the shortest timeout, at most
 * 250 ms, so a 120 s timeout fires within 0.2 % of its length. The timer runs while attempts are
 * pending and stops at the first tick with none.
 */
/** What waits for a deadline: expired at the first tick past `at`, or once its client's signal aborted. */
export interface Waiting {
  readonly at: number;
  /** Its `signal` is read only at a tick (the request path's is made on first use). */
  readonly client: { readonly signal: AbortSignal };
  expire(reason: "timeout" | "cancelled"): void;
}

export class Deadlines {
  private readonly pending = new Set<Waiting>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly now: () => number,
    private readonly tickMs: number,
  ) {}

  /** Expires `waiting` at its deadline or once its client's signal aborted, unless removed first. */
  add(waiting: Waiting): void {
    this.pending.add(waiting);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref?.();
    }
  }

  remove(waiting: Waiting): void {
    this.pending.delete(waiting);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.pending.size === 0) return this.stop();
    const now = this.now();
    for (const waiting of this.pending) {
      const reason = waiting.client.signal.aborted ? "cancelled" : waiting.at <= now ? "timeout" : undefined;
      if (!reason) continue;
      this.pending.delete(waiting);
      waiting.expire(reason);
    }
  }
}
