/**
 * oidc-provider's storage for the local tenant: plain maps with expiry, shared by every Provider
 * instance of the process (a key rotation builds a new Provider over the same data). Unlike the
 * library's development adapter it has no 1,000-entry cap, so long test runs never lose grants.
 */
import type { Adapter, AdapterPayload } from "oidc-provider";

interface Stored {
  payload: AdapterPayload;
  expiresAt?: number;
}

const records = new Map<string, Stored>();
const byGrant = new Map<string, Set<string>>();
const byUid = new Map<string, string>();
const byUserCode = new Map<string, string>();

export class MemoryStore implements Adapter {
  constructor(private readonly model: string) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  private live(key: string): Stored | undefined {
    const stored = records.get(key);
    if (stored?.expiresAt !== undefined && stored.expiresAt <= Date.now()) {
      records.delete(key);
      return undefined;
    }
    return stored;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.key(id);
    records.set(key, { payload, ...(expiresIn ? { expiresAt: Date.now() + expiresIn * 1000 } : {}) });
    if (payload.grantId) {
      const keys = byGrant.get(payload.grantId) ?? new Set<string>();
      keys.add(key);
      byGrant.set(payload.grantId, keys);
    }
    if (payload.uid) byUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.live(this.key(id))?.payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = byUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const stored = this.live(this.key(id));
    if (stored) stored.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    records.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    revokeGrant(grantId);
  }
}

function revokeGrant(grantId: string): void {
  for (const key of byGrant.get(grantId) ?? []) records.delete(key);
  byGrant.delete(grantId);
  records.delete(`Grant:${grantId}`);
}

/**
 * Ends every grant of an account (its refresh tokens, with every token issued from them), as
 * Cognito's global sign-out and disable do; with `sessions`, its hosted-login sessions too.
 * Returns how many grants ended.
 */
export function revokeAccount(accountId: string, options: { sessions: boolean }): number {
  let grants = 0;
  for (const [key, stored] of [...records]) {
    if (stored.payload.accountId !== accountId) continue;
    if (key.startsWith("Grant:")) {
      revokeGrant(key.slice("Grant:".length));
      grants++;
    } else if (options.sessions && key.startsWith("Session:")) {
      records.delete(key);
    }
  }
  return grants;
}
