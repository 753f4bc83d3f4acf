/**
 * A fresh access token for `exec` and `env` (and anything else that hands the token to another
 * program): the same rules as `token` (cached, silent refresh, a browser login only with a person
 * there and outside the cool-down), through the session use case. Returns the expiry too, since
 * nothing refreshes the token inside the other program: the caller says how long it lives.
 */
import type { CommandContext } from "../commands/context.ts";
import { resolveStoreKind } from "../commands/context.ts";
import { commandFor, type Profile } from "../config.ts";
import { getToken, readAccess } from "../session/session.ts";
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
  const { sessionPorts } = await import("../session/ports.ts");
  const { automaticLogin, LOCK_TIMEOUT_MS } = await import("../session/interactive-login.ts");
  const blocker = ctx.terminal.interactiveLoginBlocker();
  const token = await getToken(
    sessionPorts(ctx, profile, secrets, {
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      warn: (m) => ctx.say(`agent-runner-auth: warning: ${m}`),
      login: blocker ? { unavailable: blocker } : automaticLogin(ctx, profile, { noBrowser: false }, commandFor("login", ctx.profileName)),
    }),
    validityMs,
  );
  const access = await readAccess(secrets);
  // The record just served (or written): its expiry. A token from elsewhere cannot happen, but
  // if the store changed underneath, the validity we asked for is the honest lower bound.
  const expiresAt = access && access.token === token ? access.expiresAt : ctx.now() + validityMs;
  return { profile, token, expiresAt };
}
