/**
 * A circuit breaker per upstream: after `failures` consecutive failed attempts it opens, and the
 * upstream is skipped for `openMs`; then one request (a real one, not a synthetic probe) is let
 * through. Its success closes the circuit, its failure opens it again for `openMs`. The clock is
 * handed in. What counts as a failure is failover.ts's decision, not this module's.
 */

export type CircuitState = "closed" | "open" | "half_open";

export interface BreakerSettings {
  failures: number;
  openMs: number;
}

export class CircuitBreaker {
  private consecutive = 0;
  private openUntil = 0;
  private opened = false;
  private probeInFlight = false;

  constructor(
    private readonly settings: BreakerSettings,
    private readonly now: () => number,
    /** Told of every change of state (logs, the circuit-state gauge). */
    private readonly onChange: (state: CircuitState, consecutiveFailures: number) => void = () => {},
  ) {}

  state(): CircuitState {
    if (!this.opened) return "closed";
    return this.now() < this.openUntil ? "open" : "half_open";
  }

  /** Whether a request may go now, without taking the probe (for ordering). */
  available(): boolean {
    const state = this.state();
    return state === "closed" || (state === "half_open" && !this.probeInFlight);
  }

  /** Milliseconds until an open circuit lets its probe through (0 when it would now). */
  msUntilProbe(): number {
    return this.opened ? Math.max(0, this.openUntil - this.now()) : 0;
  }

  /**
   * Takes the right to send: always while closed; once, as the probe, when half open. An open
   * circuit is sent through anyway when `force` (every upstream able to serve is open).
   */
  acquire(force = false): boolean {
    const state = this.state();
    if (state === "closed") return true;
    if (state === "half_open" && !this.probeInFlight) {
      this.probeInFlight = true;
      this.onChange("half_open", this.consecutive);
      return true;
    }
    return force;
  }

  success(): void {
    this.consecutive = 0;
    this.probeInFlight = false;
    if (this.opened) {
      this.opened = false;
      this.onChange("closed", 0);
    }
  }

  failure(): void {
    this.consecutive++;
    this.probeInFlight = false;
    // closed: open at the threshold; half open: the probe (or a forced attempt) failed, open
    // again; open: a forced attempt failed, it stays open as long as it was
    const reopen = this.opened ? this.state() === "half_open" : this.consecutive >= this.settings.failures;
    if (!reopen) return;
    this.opened = true;
    this.openUntil = this.now() + this.settings.openMs;
    this.onChange("open", this.consecutive);
  }

  /** The attempt ended without a verdict (the client went away): the probe may be taken again. */
  release(): void {
    this.probeInFlight = false;
  }
}
