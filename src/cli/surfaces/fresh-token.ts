/**
 * A fresh access token for `exec` and `env` (and anything else that hands the token to another
 * program): the same rules as `token` (cached, silent refresh, a browser login only with a person
 * there and outside the cool-down), through the session use case (session/acquire-token.ts).
 * Returns the expiry too, since
 * nothing refreshes the token inside the other program: the caller says how long it lives.
 */
import type { CommandContext } from "../context.ts";
import { resolveStoreKind } from "../context.ts";
import type { Profile } from "../config.ts";
import type { SecretStore, StoreKind } from "../store/types.ts";
import type { SessionContext } from "../session/acquire-token.ts";
import { isFresh, type AccessRecord } from "../session/records.ts";

/** What a handed-out token must still be valid for (as `token`'s default --min-validity). */
export const HANDOUT_MIN_VALIDITY_MS = 5 * 60_000;
/** What a token the keep-fresh forwarder sends must still be valid for (it is used at once). */
export const KEEP_FRESH_VALIDITY_MS = 60_000;

export interface HandedToken {
  profile: Profile;
  /** The profile's secret store (the keep-fresh forwarder reads it again). */
  store: SecretStore;
  token: string;
  /** When the access token expires (ms since the epoch). */
  expiresAt: number;
}

export async function freshToken(ctx: CommandContext, store: StoreKind | undefined, validityMs = HANDOUT_MIN_VALIDITY_MS): Promise<HandedToken> {
  const profile = await ctx.profiles.require(ctx.profileName);
  const secrets = await ctx.openStore(resolveStoreKind(store, ctx.env, profile));
  const { acquireToken } = await import("../session/acquire-token.ts");
  const { access } = await acquireToken(ctx, profile, secrets, { validityMs, loginBlocker: ctx.terminal.interactiveLoginBlocker() });
  return { profile, store: secrets, token: access.token, expiresAt: access.expiresAt };
}

/**
 * A fresh token per request of the keep-fresh forwarder: the one in memory while it stays valid
 * for KEEP_FRESH_VALIDITY_MS (capped under its lifetime), else the session use case (one call at a
 * time in this process; the profile lock across processes, so `token` and the forwarder share one
 * refresh). Never a browser: the command is running, nobody may be watching.
 */
export function keptFresh(ctx: SessionContext, profile: Profile, store: SecretStore): () => Promise<string> {
  let current: AccessRecord | null = null;
  let pending: Promise<AccessRecord> | null = null;
  const renew = async (): Promise<AccessRecord> => {
    try {
      const { acquireToken } = await import("../session/acquire-token.ts");
      return (await acquireToken(ctx, profile, store, { validityMs: KEEP_FRESH_VALIDITY_MS, loginBlocker: "exec --keep-fresh does not open one while the command runs" })).access;
    } finally {
      pending = null;
    }
  };
  return async () => {
    if (current && isFresh(current, ctx.now(), KEEP_FRESH_VALIDITY_MS)) return current.token;
    current = await (pending ??= renew());
    return current.token;
  };
}
