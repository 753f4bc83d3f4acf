/**
 * The denylist check on every request, through the shared state, with answers kept for at most
 * `ttlMs` (default 1 s) per identity: a revocation made on any replica is seen here within that
 * time plus one store round trip, well inside the 2 s offboarding target, while a busy person's
 * requests cost one store read per second instead of one each.
 */
import type { TokenIdentity } from "../model/person.ts";
import type { Revocation } from "../model/revocations.ts";
import type { GatewayState } from "../state/types.ts";

const MAX_ENTRIES = 20_000;

export class DenylistCheck {
  private readonly entries = new Map<string, { at: number; revoked: Revocation | null }>();
  /** The key of an identity object seen before (auth/person.ts shares one per verified token). */
  private readonly keys = new WeakMap<TokenIdentity, { tenant: string; key: string }>();

  constructor(
    private readonly state: Pick<GatewayState, "isRevoked">,
    private readonly ttlMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The answer kept from the last `ttlMs`, at once (the request path awaits only a store read); undefined: ask `revoked`. */
  kept(tenant: string, identity: TokenIdentity): Revocation | null | undefined {
    const hit = this.entries.get(this.keyOf(tenant, identity));
    return hit && this.now() - hit.at < this.ttlMs ? hit.revoked : undefined;
  }

  async revoked(tenant: string, identity: TokenIdentity): Promise<Revocation | null> {
    const key = this.keyOf(tenant, identity);
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.revoked;
    const revoked = await this.state.isRevoked(tenant, identity, now);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { at: now, revoked });
    return revoked;
  }

  private keyOf(tenant: string, identity: TokenIdentity): string {
    const known = this.keys.get(identity);
    if (known !== undefined && known.tenant === tenant) return known.key;
    const key = `${tenant}\0${identity.sub ?? ""}\0${identity.username ?? ""}\0${identity.email ?? ""}\0${identity.origin_jti ?? ""}`;
    this.keys.set(identity, { tenant, key });
    return key;
  }

  /** After a revoke or restore on this replica: its own effect is immediate. */
  forget(): void {
    this.entries.clear();
  }
}
