/**
 * Head timeouts for many attempts at once with one coarse timer, instead of a timer, a promise
 * race and a listener per attempt (measured on the request path: several µs of CPU a request).
 * Each attempt is one object the pool hands in (no closure, no cancel function to make): its
 * `expire` runs at the first tick after its deadline, or after its client went away; the tick is
 * a tenth of the shortest timeout, at most 250 ms, so a 120 s timeout fires within 0.2 % of its
 * length. The timer runs while attempts are pending and stops at the first tick with none.
 *
 * Pending attempts are appended to an array that each tick replaces with the ones still waiting;
 * a finished attempt is only marked (`remove`), never searched for, and lets go of its client, so
 * the array does not keep requests alive until the tick (that cost the collector more than the
 * Set did: `perf` of the gateway under wrk). Holding them in one
 * long-lived Set instead cost ~4 µs a request on the request path (measured in process with
 * bench/gateway-inprocess.ts: the Set's add, though trivial alone, was most of the pool's cost).
 */
/** What waits for a deadline: expired at the first tick past `at`, or once its client's signal aborted. */
export interface Waiting {
  readonly at: number;
  /**
   * Its `signal` is read only at a tick (the request path's is made on first use). Deadlines
   * sets it to null once the attempt no longer waits (removed, or expired): null is "settled".
   */
  client: { readonly signal: AbortSignal } | null;
  expire(reason: "timeout" | "cancelled"): void;
}

export class Deadlines {
  private pending: Waiting[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly now: () => number,
    private readonly tickMs: number,
  ) {}

  /** Expires `waiting` at its deadline or once its client's signal aborted, unless removed first. */
  add(waiting: Waiting): void {
    this.pending.push(waiting);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref?.();
    }
  }

  /** Drops its client (settled): until the next tick the array still holds it, not the request behind it. */
  remove(waiting: Waiting): void {
    waiting.client = null;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.now();
    const still: Waiting[] = [];
    for (const waiting of this.pending) {
      if (!waiting.client) continue;
      const reason = waiting.client.signal.aborted ? "cancelled" : waiting.at <= now ? "timeout" : undefined;
      if (!reason) {
        still.push(waiting);
        continue;
      }
      waiting.expire(reason);
      waiting.client = null;
    }
    this.pending = still;
    if (still.length === 0) this.stop();
  }
}
