/**
 * The email of a person whose access token has none, from the issuer's userInfo endpoint.
 * Pools that sign in with email give every user a UUID `username` and put the email only in the
 * ID token and userInfo (the proxy never sees the ID token), so the log line and the ledger
 * would otherwise show a UUID. The lookup never delays a request: `emailFor` answers from the
 * cache or not at all, and starts a background fetch with the caller's access token; the next
 * request of that person shows the email. Answers are cached per issuer and `sub` (bounded
 * size, TTL); failures are cached briefly and logged once per issuer until a lookup works again.
 * Every fetch is bounded in time and size. Once known, the answer is also kept on the verified
 * token's own object (the verified-token cache hands each request of a token the same one), so a
 * request pays one WeakMap look-up for it: no key to build, no token to pull out of the headers.
 * The proxy owns one resolver (http/server.ts), unless `--no-userinfo` / `AGENT_RUNNER_PROXY_USERINFO=off`
 * turned the lookup off.
 */
import type { VerifiedUser } from "./verify.ts";
import { readCapped } from "../../shared/read-capped.ts";

export const USERINFO_TTL_MS = 60 * 60_000;
export const USERINFO_FAILURE_TTL_MS = 60_000;
export const USERINFO_MAX_ENTRIES = 10_000;
export const USERINFO_TIMEOUT_MS = 2_000;
export const USERINFO_MAX_BYTES = 64 * 1024;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A plausible address only: the value goes into logs and admin output. */
const EMAIL = /^[^\s@\p{Cc}]{1,128}@[^\s@\p{Cc}]{1,253}$/u;

export class UserInfoError extends Error {
  constructor(
    readonly code: "http_status" | "too_large" | "not_json" | "no_endpoint" | "network",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface UserInfoOptions {
  fetch?: typeof fetch;
  now?: () => number;
  /** One line per failing issuer (not per request); no token in it. */
  log?: (message: string) => void;
  ttlMs?: number;
  failureTtlMs?: number;
  maxEntries?: number;
  timeoutMs?: number;
  maxBytes?: number;
}

interface Entry {
  email: string | undefined;
  expires: number;
}

/** Whether the proxy should look the email up: none in the token and a username that is a UUID (tested once per verified token). */
const lookupNeeded = new WeakMap<VerifiedUser, boolean>();
export function needsEmailLookup(user: VerifiedUser): boolean {
  if (user.email) return false;
  let needed = lookupNeeded.get(user);
  if (needed === undefined) lookupNeeded.set(user, (needed = UUID.test(user.username)));
  return needed;
}

/** The access token, only read when a lookup has to start. */
type TokenSource = string | null | (() => string | null);

export class EmailResolver {
  private readonly cache = new Map<string, Entry>();
  private readonly endpoints = new Map<string, Entry>(); // issuer → userinfo_endpoint (in `email`)
  private readonly inflight = new Set<string>();
  private readonly failing = new Set<string>();
  /** The cache's answer for a verified token's object, while it lasts. */
  private readonly byUser = new WeakMap<VerifiedUser, Entry>();

  constructor(private readonly options: UserInfoOptions = {}) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The cached email, if any; otherwise starts a background lookup and answers undefined. */
  emailFor(issuer: string, user: VerifiedUser, token: TokenSource): string | undefined {
    const known = this.byUser.get(user);
    if (known && known.expires > this.now()) return known.email;
    if (!needsEmailLookup(user)) return undefined;
    const key = `${issuer}\n${user.sub}`;
    const hit = this.cache.get(key);
    if (hit && hit.expires > this.now()) {
      this.byUser.set(user, hit);
      return hit.email;
    }
    const accessToken = typeof token === "function" ? token() : token;
    if (!accessToken) return undefined;
    if (!this.inflight.has(key)) {
      this.inflight.add(key);
      void this.lookUp(issuer, key, accessToken).finally(() => this.inflight.delete(key));
    }
    return undefined;
  }

  /** Resolves when every background lookup started so far has finished (tests). */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private async lookUp(issuer: string, key: string, accessToken: string): Promise<void> {
    try {
      const endpoint = await this.endpointOf(issuer);
      const body = await this.getJson(endpoint, { authorization: `Bearer ${accessToken}` });
      const email = typeof body.email === "string" && EMAIL.test(body.email) ? body.email : undefined;
      this.remember(this.cache, key, email, this.options.ttlMs ?? USERINFO_TTL_MS);
      this.failing.delete(issuer);
    } catch (e) {
      this.remember(this.cache, key, undefined, this.options.failureTtlMs ?? USERINFO_FAILURE_TTL_MS);
      if (!this.failing.has(issuer)) {
        this.failing.add(issuer);
        this.options.log?.(`userInfo lookup for ${issuer} failed (${(e as Error).message}); logs show the username until it works`);
      }
    }
  }

  /** An answer of userInfo got elsewhere (the directory's re-checks): the e-mail cache learns it. */
  learn(issuer: string, sub: string, body: Record<string, unknown>): void {
    const email = typeof body.email === "string" && EMAIL.test(body.email) ? body.email : undefined;
    if (email) this.remember(this.cache, `${issuer}\n${sub}`, email, this.options.ttlMs ?? USERINFO_TTL_MS);
  }

  /** The issuer's userinfo_endpoint, from its discovery document (cached). */
  async endpointOf(issuer: string): Promise<string> {
    const known = this.endpoints.get(issuer);
    if (known?.email && known.expires > this.now()) return known.email;
    const discovery = await this.getJson(`${issuer}/.well-known/openid-configuration`, {});
    const endpoint = discovery.userinfo_endpoint;
    if (typeof endpoint !== "string" || !/^https?:\/\//.test(endpoint)) throw new UserInfoError("no_endpoint", "the issuer's discovery document names no userinfo_endpoint");
    this.remember(this.endpoints, issuer, endpoint, this.options.ttlMs ?? USERINFO_TTL_MS);
    return endpoint;
  }

  private remember(into: Map<string, Entry>, key: string, email: string | undefined, ttl: number): void {
    into.delete(key);
    into.set(key, { email, expires: this.now() + ttl });
    // Map keeps insertion order: the oldest entries go first.
    const max = this.options.maxEntries ?? USERINFO_MAX_ENTRIES;
    for (const oldest of into.keys()) {
      if (into.size <= max) break;
      into.delete(oldest);
    }
  }

  /** GET with one deadline for the whole exchange and the body read under a size cap. */
  private async getJson(url: string, headers: Record<string, string>): Promise<Record<string, unknown>> {
    const signal = AbortSignal.timeout(this.options.timeoutMs ?? USERINFO_TIMEOUT_MS);
    let text: string;
    try {
      const response = await (this.options.fetch ?? fetch)(url, { headers: { accept: "application/json", ...headers }, signal, redirect: "error" });
      if (!response.ok) {
        await response.body?.cancel();
        throw new UserInfoError("http_status", `HTTP ${response.status} from ${url}`);
      }
      const maxBytes = this.options.maxBytes ?? USERINFO_MAX_BYTES;
      text = response.body ? new TextDecoder().decode(await readCapped(response.body, maxBytes, { tooLarge: () => new UserInfoError("too_large", `${url} answered more than ${maxBytes} bytes`) })) : "";
    } catch (e) {
      if (e instanceof UserInfoError) throw e;
      throw new UserInfoError("network", `${url}: ${(e as Error).name === "TimeoutError" ? "no answer in time" : (e as Error).message}`, { cause: e });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw new UserInfoError("not_json", `${url} did not answer a JSON object`);
  }
}
