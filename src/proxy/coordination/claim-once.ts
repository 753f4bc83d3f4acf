/**
 * "Exactly one replica does this": the first claimant of a key holds it until it expires. The
 * state store implements it for every replica at once (Redis `SET key claimant NX PX ttl`, then
 * `GET`; SQLite `INSERT OR IGNORE` then `SELECT`, in one transaction): the wiring plan in
 * docs/policy.md. Used for budget alerts (one POST per threshold, budget and period on any
 * replica) and, optionally, the directory revalidation (one userInfo call per session per
 * interval across replicas).
 *
 * A claimant that asks again for a key it already holds is answered true: a process that
 * spooled an alert, crashed and came back (same claimant id, kept with the alert) still sends it.
 */
export interface ClaimOnce {
  /** True when `claimant` holds `key` now (it claimed it first, now or before); false when another does. */
  claimOnce(key: string, claimant: string, ttlMs: number): Promise<boolean>;
}

/** One process's claims (tests, and the single-process gateway before the state store implements it). */
export class MemoryClaims implements ClaimOnce {
  private readonly claims = new Map<string, { claimant: string; expires: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async claimOnce(key: string, claimant: string, ttlMs: number): Promise<boolean> {
    const at = this.now();
    const held = this.claims.get(key);
    if (held && held.expires > at) return held.claimant === claimant;
    this.claims.set(key, { claimant, expires: at + ttlMs });
    if (this.claims.size > 100_000) for (const [k, v] of this.claims) if (v.expires <= at) this.claims.delete(k);
    return true;
  }
}
