/**
 * Head timeouts for many attempts at once with one coarse timer, instead of a timer, a promise
 * race and a listener per attempt (measured on the request path: several µs of CPU a request).
 * Each attempt is one object the pool hands in (no closure, no cancel function to make): its
 * `expire` runs at the first tick after its deadline, or after its client went away; the tick is
 * a tenth of the shortest timeout, at most 250 ms; a deadline is set from the last tick's clock
 * plus a tick, so a 120 s timeout fires within two ticks after it (0.4 % of its length), never
 * before while ticks come on time. The timer runs while attempts are pending and stops at the
 * first tick with none.
 *
 * What this costs is mostly the collector's, so the pending attempts are held as briefly as
 * possible (each step measured with `perf` of the gateway under wrk, bench/pool-gateway.ts):
 *  - one long-lived Set cost ~4 µs a request (an old collection pointing at young objects);
 *  - an array each tick replaces kept every finished attempt, and its request, up to 250 ms;
 *  - so a finished attempt is only marked (`remove` drops its client: null is "settled"), and
 *    settled attempts at the front of the array are let go at the next `add`. Heads mostly come
 *    back in the order the attempts were sent, so a finished attempt is garbage while still
 *    young, the collector's cheapest case; what an unsettled front keeps, the tick compacts.
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
  /** In the order added; the entries before `head` were let go. */
  private pending: Array<Waiting | undefined> = [];
  private head = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** The clock as read at the last tick (or when the timer started): deadlines are set from it. */
  private lastTick = 0;

  constructor(
    private readonly now: () => number,
    private readonly tickMs: number,
  ) {}

  /**
   * The deadline `ms` from now, from the clock as the last tick read it plus one tick (so never
   * earlier than `ms` from now while ticks come on time), read afresh only when the timer is not
   * running: no clock read per attempt (~60 ns each, measured on the request path).
   */
  deadlineIn(ms: number): number {
    return this.timer ? this.lastTick + this.tickMs + ms : (this.lastTick = this.now()) + ms;
  }

  /** Expires `waiting` at its deadline or once its client's signal aborted, unless removed first. */
  add(waiting: Waiting): void {
    this.letGoOfSettledFront();
    this.pending.push(waiting);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref?.();
    }
  }

  /** Drops its client (settled): the attempt is let go at a later `add` or tick, the request behind it at once. */
  remove(waiting: Waiting): void {
    waiting.client = null;
  }

  /** Attempts still held, settled ones not yet let go included (for tests). */
  get held(): number {
    return this.pending.length - this.head;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private letGoOfSettledFront(): void {
    const pending = this.pending;
    while (this.head < pending.length && pending[this.head]?.client === null) pending[this.head++] = undefined;
    if (this.head === pending.length) {
      pending.length = 0;
      this.head = 0;
    }
  }

  private tick(): void {
    const now = (this.lastTick = this.now());
    const still: Waiting[] = [];
    for (let i = this.head; i < this.pending.length; i++) {
      const waiting = this.pending[i];
      if (!waiting?.client) continue;
      const reason = waiting.client.signal.aborted ? "cancelled" : waiting.at <= now ? "timeout" : undefined;
      if (!reason) {
        still.push(waiting);
        continue;
      }
      waiting.expire(reason);
      waiting.client = null;
    }
    this.pending = still;
    this.head = 0;
    if (still.length === 0) this.stop();
  }
}
