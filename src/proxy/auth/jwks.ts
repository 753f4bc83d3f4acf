/**
 * The signing keys of one issuer, cached: fetched at start, refreshed in the background before
 * they go stale, and refetched on an unknown `kid` at most once per 10 s (so a flood of forged
 * kids cannot hammer the IdP, and a key rotation is picked up within seconds).
 */
import { importJWK, type JWK } from "jose";

export const UNKNOWN_KID_REFETCH_INTERVAL_MS = 10_000;
export const BACKGROUND_REFRESH_MS = 5 * 60_000;

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

export interface JwksOptions {
  fetch?: typeof fetch;
  now?: () => number;
  onRefresh?: (ok: boolean) => void;
  /** Called when the set of key ids changed (a key added or withdrawn). */
  onKeysChanged?: () => void;
}

export class IssuerKeys {
  private keys = new Map<string, VerifyKey>();
  private lastFetch = 0;
  private inflight: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  loaded = false;

  constructor(
    readonly jwksUri: string,
    private readonly options: JwksOptions = {},
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Fetches and imports the key set; concurrent callers share one request. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetch = this.now();
    try {
      const response = await (this.options.fetch ?? fetch)(this.jwksUri, { signal: AbortSignal.timeout(5000), headers: { accept: "application/json" } });
      if (!response.ok) throw new Error(`JWKS ${this.jwksUri} answered HTTP ${response.status}`);
      const body = (await response.json()) as { keys?: JWK[] };
      const next = new Map<string, VerifyKey>();
      for (const jwk of body.keys ?? []) {
        // Only RSA signing keys for RS256; anything else in the set is ignored.
        if (jwk.kty !== "RSA" || !jwk.kid || (jwk.use && jwk.use !== "sig") || (jwk.alg && jwk.alg !== "RS256")) continue;
        next.set(jwk.kid, await importJWK({ ...jwk, alg: "RS256" }, "RS256"));
      }
      const changed = next.size !== this.keys.size || [...next.keys()].some((kid) => !this.keys.has(kid));
      this.keys = next;
      this.loaded = true;
      if (changed) this.options.onKeysChanged?.();
      this.options.onRefresh?.(true);
    } catch (e) {
      this.options.onRefresh?.(false);
      throw e;
    }
  }

  /** The key for `kid`, refetching the set (rate-limited) when it is unknown. */
  async get(kid: string): Promise<VerifyKey | undefined> {
    const key = this.keys.get(kid);
    if (key) return key;
    // a fetch under way (the first one at start, typically) may bring it: wait for it
    if (this.inflight) {
      await this.inflight.catch(() => undefined);
      if (this.keys.has(kid)) return this.keys.get(kid);
    }
    if (this.now() - this.lastFetch >= UNKNOWN_KID_REFETCH_INTERVAL_MS) {
      await this.refresh().catch(() => undefined);
      return this.keys.get(kid);
    }
    return undefined;
  }

  /** Refreshes every 5 min, and every 10 s while the keys have never loaded (IdP down at start). */
  startBackgroundRefresh(): void {
    this.timer = setInterval(() => {
      const due = this.loaded ? BACKGROUND_REFRESH_MS : UNKNOWN_KID_REFETCH_INTERVAL_MS;
      if (this.now() - this.lastFetch >= due) void this.refresh().catch(() => undefined);
    }, 1000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
