/**
 * The one session-token use case, for every caller that needs the person's access token: `token`
 * (and the Desktop helper), `exec` and `env`, the keep-fresh forwarder, the gateway commands
 * (`usage`, `admin`) and `doctor`. The same rules everywhere (session.ts's behaviour table): the
 * stored token if it stays valid long enough, else a silent refresh under the profile lock, and a
 * browser sign-in only where the caller says one may open (outside the cool-down). Callers differ
 * only in what they pass: the validity, whether (and for how long) a browser may open, how long
 * they wait for the lock, and whether the gateway is asked first (`confirm`).
 *
 * `confirm` (issue 21): the gateway is asked whether the token about to be served is still
 * accepted. A refused stored token is dropped and one refresh is tried; a refused refreshed token
 * ends in a browser sign-in where one may open (unless the person's access was withdrawn: signing
 * in again would not help), else in AccessRefusedError. The refresh token is always kept.
 */
import type { CommandContext } from "../context.ts";
import { commandFor, refreshLifetimeMs, type Profile } from "../config.ts";
import { AuthRequiredError, RefreshRejected } from "../errors.ts";
import type { SecretStore } from "../store/types.ts";
import type { TokenAcceptance } from "../gateway/client.ts";
import { decodeAccess, type AccessRecord } from "./records.ts";
import { getToken, type ServedToken, type TokenPorts } from "./session.ts";
import { automaticLogin, DEFAULT_LOGIN_TIMEOUT_MS, LOCK_TIMEOUT_MS } from "./interactive-login.ts";

/** What the use case needs of a command's context. */
export type SessionContext = Pick<CommandContext, "profileName" | "profiles" | "now" | "lock" | "oauth" | "browser" | "say" | "verbose" | "attempts">;

export interface AcquireOptions {
  /** How long the served token must stay valid (capped just under its lifetime: records.ts). */
  validityMs: number;
  /** Why a browser sign-in cannot happen here, or null when one may (a person at a terminal with a display). */
  loginBlocker: string | null;
  /** Gives up on a browser sign-in nobody finishes (default DEFAULT_LOGIN_TIMEOUT_MS). */
  loginTimeoutMs?: number;
  /** How long to wait for another process's refresh or sign-in (default LOCK_TIMEOUT_MS). */
  lockTimeoutMs?: number;
  /** Where warnings go (an unreachable IdP while a valid token is served); default stderr. */
  warn?: (message: string) => void;
  /** The access entry the caller has just read (the `token` command's cached path), so it is not read twice. */
  firstRead?: { access: AccessRecord | null };
  /** Asks the gateway whether a token is still accepted before it is served (unknown: served as before). */
  confirm?: (token: string) => Promise<TokenAcceptance>;
}

/** The reason the gateway gives when an administrator withdrew the person's access (signing in again cannot help). */
export const PERSON_REVOKED = "person_revoked";
export const SESSION_REVOKED = "session_revoked";

/** The gateway refused the session's tokens (issue 21). One line: what happened and what to do. */
export class AccessRefusedError extends AuthRequiredError {
  override readonly name: string = "AccessRefusedError";
  readonly code = "access-refused";
  constructor(
    /** The gateway's `x-agent-runner-reason`, when it said one. */
    readonly reason: string | null,
    loginCommand: string,
    options?: { cause?: unknown },
  ) {
    super(refusalMessage(reason, loginCommand), undefined, options);
  }
}

function refusalMessage(reason: string | null, loginCommand: string): string {
  if (reason === PERSON_REVOKED) return "the gateway refuses your access: an administrator withdrew it, so signing in again will not help; ask your administrator to restore it";
  if (reason === SESSION_REVOKED) return `access was revoked at the gateway (this session was signed out or revoked); run '${loginCommand}'`;
  return `access was revoked at the gateway (it refuses this session's tokens); run '${loginCommand}'`;
}

/** The session use case's ports for a profile (session.ts), from a command's context. */
function sessionPorts(ctx: SessionContext, profile: Profile, store: SecretStore, options: AcquireOptions): TokenPorts {
  const loginCommand = commandFor("login", ctx.profileName);
  return {
    store,
    now: ctx.now,
    lock: () =>
      ctx.lock({
        timeoutMs: options.lockTimeoutMs ?? LOCK_TIMEOUT_MS,
        onWait: () => ctx.verbose("another process is refreshing or signing in: waiting"),
        // A short wait (a refresh under contention) stays quiet; a long one says whom it waits for.
        onLongWait: (wait) => ctx.say(`agent-runner-auth: ${(require("../lock.ts") as typeof import("../lock.ts")).longWaitMessage(wait)}`),
      }),
    refresh: (refreshToken) => {
      ctx.verbose(`refreshing at ${profile.endpoints.token}`);
      return ctx.oauth.refreshTokens(profile, refreshToken);
    },
    login: options.loginBlocker !== null ? { unavailable: options.loginBlocker } : automaticLogin(ctx, profile, { noBrowser: false, timeoutMs: options.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS }, loginCommand),
    isRefreshRejected: (e) => e instanceof RefreshRejected,
    warn: options.warn ?? ((m) => ctx.say(`agent-runner-auth: warning: ${m}`)),
    refreshTokenLifetimeMs: refreshLifetimeMs(profile),
    loginCommand,
  };
}

/** A valid access token for the profile, by the rules above, and where it came from. */
export async function acquireToken(ctx: SessionContext, profile: Profile, store: SecretStore, options: AcquireOptions): Promise<ServedToken> {
  const ports = sessionPorts(ctx, profile, store, options);
  const served = await getToken(ports, options.validityMs, options.firstRead ? { firstRead: options.firstRead } : {});
  if (!options.confirm) return served;
  return confirmed(ctx, ports, served, options.confirm, options.validityMs);
}

/** The served token once the gateway has not refused it: the steps of issue 21, point 1. */
async function confirmed(ctx: SessionContext, ports: TokenPorts, served: ServedToken, confirm: (token: string) => Promise<TokenAcceptance>, validityMs: number): Promise<ServedToken> {
  const first = await confirm(served.access.token);
  if (first.verdict !== "refused") return served;
  ctx.verbose(`the gateway refuses the ${served.source === "cache" ? "stored" : "new"} access token${first.reason ? ` (${first.reason})` : ""}`);
  let refusal = first;
  let refused = served;
  if (served.source === "cache") {
    // dropped, and one refresh tried (a restored person, a re-signed-in session elsewhere)
    let again: ServedToken;
    try {
      again = await getToken(ports, validityMs, { refused: served.access.token });
    } catch (e) {
      await dropRefused(ports, served.access.token);
      throw new AccessRefusedError(first.reason, ports.loginCommand, { cause: e });
    }
    const second = await confirm(again.access.token);
    if (second.verdict !== "refused") return again;
    ctx.verbose("the gateway refuses the refreshed access token too");
    [refusal, refused] = [second, again];
  }
  if (refused.source !== "sign-in" && refusal.reason !== PERSON_REVOKED && typeof ports.login === "function") {
    // as for an expired session: a browser sign-in where one may open
    const signedIn = await getToken(ports, validityMs, { refused: refused.access.token, signIn: true });
    const third = await confirm(signedIn.access.token);
    if (third.verdict !== "refused") return signedIn;
    [refusal, refused] = [third, signedIn];
  }
  await dropRefused(ports, refused.access.token);
  throw new AccessRefusedError(refusal.reason, ports.loginCommand);
}

/** Never keep a token the gateway refused (the refresh token stays); under the lock, only if still the stored one. */
async function dropRefused(ports: TokenPorts, token: string): Promise<void> {
  const held = await ports.lock();
  try {
    if (decodeAccess(await ports.store.get("access"))?.token === token) await ports.store.delete("access");
  } finally {
    held.release();
  }
}
