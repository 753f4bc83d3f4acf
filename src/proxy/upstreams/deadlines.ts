/**
 * Head timeouts for many attempts at once with one coarse timer, instead of a timer, a promise
 * race and a listener per attempt (measured on the request path: several µs of CPU a request).
 * An attempt's `expire` runs at the first tick after its deadline, or after its client went
 * away (the attempt's `signal` aborted); the tick is a tenth of the shortest timeout, at most
 * 250 ms, so a 120 s timeout fires within 0.2 % of its length. The timer runs while attempts are
 * pending and stops at the first tick with none.
 */
interface Entry {
  at: number;
  /** Its `signal` is read only at a tick (the request path's is made on first use). */
  client: { readonly signal: AbortSignal };
  expire: (reason: "timeout" | "cancelled") => void;
}

export class Deadlines {
  private readonly pending = new Set<Entry>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly now: () => number,
    private readonly tickMs: number,
  ) {}

  /** Calls `expire` once `ms` have passed, or once `client.signal` aborted; returns the cancel. */
  add(ms: number, client: Entry["client"], expire: Entry["expire"]): () => void {
    const entry: Entry = { at: this.now() + ms, client, expire };
    this.pending.add(entry);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref?.();
    }
    return () => this.pending.delete(entry);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.pending.size === 0) return this.stop();
    const now = this.now();
    for (const entry of this.pending) {
      const reason = entry.client.signal.aborted ? "cancelled" : entry.at <= now ? "timeout" : undefined;
      if (!reason) continue;
      this.pending.delete(entry);
      entry.expire(reason);
    }
  }
}
