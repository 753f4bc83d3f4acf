/**
 * AWS credentials for signing, from a provider (the standard chain: environment, shared files,
 * web identity, ECS task role, EC2 instance metadata), cached and refreshed before they expire:
 * from `refreshBeforeMs` ahead of the expiry a refresh runs in the background while the current
 * credentials still sign; only credentials about to expire make a request wait. A failed refresh
 * keeps the current credentials while they last and is reported once. Requests never run the
 * chain concurrently (one refresh at a time). The clock is handed in.
 */
import { type EventLogger, UpstreamError } from "../types.ts";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** `fromNodeProviderChain()`'s shape: `forceRefresh` re-runs the chain past its own memo. */
export type CredentialProvider = (options?: { forceRefresh?: boolean }) => Promise<AwsCredentials>;

export interface CredentialCacheOptions {
  upstream: string;
  now: () => number;
  log: EventLogger;
  /** Refresh in the background from this long before the expiry (default 5 min, as the AWS SDKs). */
  refreshBeforeMs?: number;
  /** Never sign with credentials closer than this to their expiry (default 15 s). */
  marginMs?: number;
}

export class CredentialCache {
  private credentials: AwsCredentials | undefined;
  private loading: Promise<AwsCredentials> | undefined;
  private reported = false;
  private stale = false;

  constructor(
    private readonly provider: CredentialProvider,
    private readonly options: CredentialCacheOptions,
  ) {}

  /** Credentials good for signing now. */
  async get(): Promise<AwsCredentials> {
    const current = this.credentials;
    const left = this.msLeft(current);
    if (current && !this.stale && left > (this.options.marginMs ?? 15_000)) {
      if (left <= (this.options.refreshBeforeMs ?? 300_000)) void this.load(false).catch(() => {});
      return current;
    }
    return this.load(this.stale);
  }

  /** The upstream refused them (expired token, bad signature): the next request gets fresh ones. */
  invalidate(): void {
    this.stale = true;
  }

  /** SIGHUP: fresh credentials now (the chain re-run past its own memo). */
  async refresh(): Promise<void> {
    await this.load(true).catch(() => {});
  }

  private msLeft(credentials: AwsCredentials | undefined): number {
    if (!credentials) return -Infinity;
    return credentials.expiration ? credentials.expiration.getTime() - this.options.now() : Infinity;
  }

  private load(force: boolean): Promise<AwsCredentials> {
    this.loading ??= this.provider(force ? { forceRefresh: true } : undefined)
      .then(
        (fresh) => {
          this.credentials = fresh;
          this.stale = false;
          if (this.reported) this.options.log("info", `upstream ${this.options.upstream}: AWS credentials refreshed`, { upstream: this.options.upstream });
          this.reported = false;
          return fresh;
        },
        (e: unknown) => this.failed(e),
      )
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Keeps what still signs; says so once per spell of failures. */
  private failed(e: unknown): AwsCredentials {
    const { upstream, log } = this.options;
    const current = this.credentials;
    const usable = current !== undefined && this.msLeft(current) > 0;
    if (!this.reported) {
      this.reported = true;
      const until = current?.expiration ? ` until ${current.expiration.toISOString()}` : "";
      log(usable ? "warn" : "error", `upstream ${upstream}: cannot get AWS credentials (${(e as Error).message})${usable ? `; signing with the current ones${until}` : ""}`, { upstream });
    }
    if (usable) return current;
    throw new UpstreamError("credentials", `upstream ${upstream}: no AWS credentials: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The standard chain, loaded only when a Bedrock upstream is configured (it pulls in the AWS SDK).
 * `ignoreCache`: each run of the chain (a refresh, SIGHUP) reads the shared files again, so a
 * rotated access key in the credentials file is seen; the chain itself runs only to refresh.
 */
export async function defaultCredentialProvider(profile?: string): Promise<CredentialProvider> {
  const { fromNodeProviderChain } = await import("@aws-sdk/credential-providers");
  return fromNodeProviderChain({ ignoreCache: true, ...(profile ? { profile } : {}) });
}
