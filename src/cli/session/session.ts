/**
 * The session use cases, over narrow ports (store, clock, lock, IdP, login) so they can be tested
 * with fakes. This is the seed's behaviour table for `token`:
 *   cached          a fresh access token in the store: return it (one store read, no network)
 *   silent refresh  refresh grant, store the new tokens, return
 *   interactive     login (browser), store, return, when a human can do it
 *   non-interactive otherwise: CliError "not logged in", exit 1
 * Refresh and login run under the profile lock, so concurrent callers share one of each.
 */
import { AuthRequiredError } from "../errors.ts";
import type { SecretStore } from "../store/types.ts";
import { decodeAccess, decodeRefresh, encodeRecord, isFresh, type AccessRecord, type RefreshRecord, type TokenSet } from "./records.ts";

export interface TokenPorts {
  store: SecretStore;
  now: () => number;
  /** Takes the profile lock (single-flight across processes). */
  lock: () => Promise<{ release(): void }>;
  /** Refresh grant; throws RefreshRejected when the refresh token is dead, CliError otherwise. */
  refresh: (refreshToken: string) => Promise<TokenSet>;
  /** Interactive login; null when it cannot happen here (the reason is in the error). */
  login: (() => Promise<TokenSet>) | { unavailable: string };
  isRefreshRejected: (error: unknown) => boolean;
  warn: (message: string) => void;
  /** The profile's refresh token lifetime, when the tenant publishes it. */
  refreshTokenLifetimeMs?: number;
  /** The command that logs in, for messages. */
  loginCommand: string;
}

/** Where a served access token came from: the store as it was, a refresh grant, or a sign-in. */
export type TokenSource = "cache" | "refresh" | "sign-in";

export interface ServedToken {
  access: AccessRecord;
  source: TokenSource;
}

/**
 * What a refresh keeps of the session it continues: when it was signed in and, when known, the
 * refresh token's absolute expiry. A rotated refresh token keeps the first one's expiry (Cognito),
 * so neither moves at a rotation.
 */
export type SessionStart = Pick<RefreshRecord, "signedInAt" | "expiresAt">;

/** The session facts a refresh of `record` carries over (records from before `signedInAt`: their issue time). */
export function sessionStart(record: RefreshRecord): SessionStart {
  return { signedInAt: record.signedInAt ?? record.issuedAt, ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}) };
}

/**
 * Stores a token set. Order matters: a rotated refresh token is written first, so a crash
 * after it leaves a usable session; the old refresh token is only ever replaced, never deleted.
 * `continuing` is the session a refresh continues (absent for a sign-in, which starts one now).
 */
export async function saveTokens(store: SecretStore, tokens: TokenSet, now: number, refreshTokenLifetimeMs?: number, continuing?: SessionStart): Promise<AccessRecord> {
  if (tokens.refreshToken) {
    const signedInAt = continuing?.signedInAt ?? now;
    const expiresAt = continuing?.expiresAt ?? (refreshTokenLifetimeMs ? signedInAt + refreshTokenLifetimeMs : undefined);
    const record: RefreshRecord = { token: tokens.refreshToken, issuedAt: now, signedInAt, ...(expiresAt !== undefined ? { expiresAt } : {}) };
    await store.set("refresh", encodeRecord(record));
  }
  if (tokens.idToken) await store.set("id", tokens.idToken);
  const access: AccessRecord = { token: tokens.accessToken, expiresAt: now + tokens.expiresIn * 1000, lifetimeMs: tokens.expiresIn * 1000 };
  await store.set("access", encodeRecord(access));
  return access;
}

/** Deletes the whole session (logout, or a refresh token the IdP declared dead). */
export async function clearSession(store: SecretStore): Promise<void> {
  await store.delete("access");
  await store.delete("id");
  await store.delete("refresh");
}

/** The cached path's one store read (no lock, no network); null when there is no usable entry. */
export async function readAccess(store: SecretStore): Promise<AccessRecord | null> {
  return decodeAccess(await store.get("access"));
}

export interface GetTokenOptions {
  /** The access entry the caller has just read (the `token` command's cached path), so it is not read twice. */
  firstRead?: { access: AccessRecord | null };
  /**
   * An access token the gateway refused: never served again. Its entry is dropped (if still
   * stored) and the session refreshed; the refresh token stays (a person restored by an
   * administrator needs no new sign-in).
   */
  refused?: string;
  /** Sign in anew instead of refreshing (the refreshed token was refused too); without a way to sign in, the not-logged-in error. */
  signIn?: boolean;
}

/** The whole behaviour table. */
export async function getToken(ports: TokenPorts, validityMs: number, options: GetTokenOptions = {}): Promise<ServedToken> {
  const usable = (access: AccessRecord | null): boolean => access !== null && access.token !== options.refused && isFresh(access, ports.now(), validityMs);
  const first = options.firstRead ? options.firstRead.access : await readAccess(ports.store);
  if (first && usable(first)) return { access: first, source: "cache" };

  // Nothing to refresh and nobody to log in: say so at once, without waiting for the lock.
  if (typeof ports.login !== "function" && (options.signIn || decodeRefresh(await ports.store.get("refresh")) === null)) {
    throw notLoggedIn(ports, ports.login.unavailable, options.signIn ? "the gateway refuses this session" : "you are not logged in");
  }

  const held = await ports.lock();
  try {
    // Another process may have refreshed or logged in while we waited for the lock.
    let access = decodeAccess(await ports.store.get("access"));
    if (access && usable(access)) return { access, source: "cache" };
    if (access && access.token === options.refused) {
      await ports.store.delete("access");
      access = null;
    }

    const refresh = options.signIn ? null : decodeRefresh(await ports.store.get("refresh"));
    let sessionEnded = false;
    if (refresh) {
      try {
        const tokens = await ports.refresh(refresh.token);
        return { access: await saveTokens(ports.store, tokens, ports.now(), ports.refreshTokenLifetimeMs, sessionStart(refresh)), source: "refresh" };
      } catch (e) {
        if (!ports.isRefreshRejected(e)) {
          // The IdP is unreachable or failing: the refresh token stays; a still-valid token is served.
          if (access && access.expiresAt > ports.now()) {
            const left = Math.round((access.expiresAt - ports.now()) / 1000);
            ports.warn(`${(e as Error).message}; using the current access token (valid for ${left} s more)`);
            return { access, source: "cache" };
          }
          throw e;
        }
        // invalid_grant: the refresh token is expired or revoked. Delete only what is dead.
        await clearSession(ports.store);
        sessionEnded = true;
      }
    }

    if (typeof ports.login !== "function") {
      const why = sessionEnded ? "your session has expired or was revoked" : refresh ? "your session has expired" : options.signIn ? "the gateway refuses this session" : "you are not logged in";
      throw notLoggedIn(ports, ports.login.unavailable, why);
    }
    if (sessionEnded) ports.warn("your session has expired or was revoked; signing in again");
    const tokens = await ports.login();
    return { access: await saveTokens(ports.store, tokens, ports.now(), ports.refreshTokenLifetimeMs), source: "sign-in" };
  } finally {
    held.release();
  }
}

function notLoggedIn(ports: TokenPorts, blocker: string, why: string): AuthRequiredError {
  return new AuthRequiredError(`${why}, and a browser login is not possible here (${blocker})`, `Run: ${ports.loginCommand}`);
}
