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
import type { StoreKind } from "../store/types.ts";

/** What a handed-out token must still be valid for (as `token`'s default --min-validity). */
export const HANDOUT_MIN_VALIDITY_MS = 5 * 60_000;

export interface HandedToken {
  profile: Profile;
  token: string;
  /** When the access token expires (ms since the epoch). */
  expiresAt: number;
}

export async function freshToken(ctx: CommandContext, store: StoreKind | undefined, validityMs = HANDOUT_MIN_VALIDITY_MS): Promise<HandedToken> {
  const profile = await ctx.profiles.require(ctx.profileName);
  const secrets = await ctx.openStore(resolveStoreKind(store, ctx.env, profile));
  const { acquireToken } = await import("../session/acquire-token.ts");
  const { access } = await acquireToken(ctx, profile, secrets, { validityMs, loginBlocker: ctx.terminal.interactiveLoginBlocker() });
  return { profile, token: access.token, expiresAt: access.expiresAt };
}
