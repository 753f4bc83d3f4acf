/**
 * `logout`: end the session at the tenant's gateway (its access tokens are refused from then on),
 * revoke the refresh token at the IdP, then delete locally; offline it still deletes, and warns.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { resolveStoreKind, storeFlag } from "../../context.ts";
import { decodeRefresh } from "../../session/records.ts";
import { clearSession, readAccess } from "../../session/session.ts";
import { describeEndSession, endSessionAtGateway } from "../../gateway/logout.ts";
import { LOCK_TIMEOUT_MS } from "../../session/interactive-login.ts";
import { sanitizeForTerminal } from "../../terminal-text.ts";
import type { StoreKind } from "../../store/types.ts";
import type { Profile } from "../../config.ts";

export interface LogoutOptions {
  store: StoreKind | undefined;
}

export function parseOptions(args: ParsedArgs, _env: Env): LogoutOptions {
  return { store: storeFlag(args) };
}

export async function run(ctx: CommandContext, options: LogoutOptions): Promise<number> {
  const profile = await ctx.profiles.require(ctx.profileName);
  const store = await ctx.openStore(resolveStoreKind(options.store, ctx.env, profile));
  const held = await ctx.lock({ timeoutMs: LOCK_TIMEOUT_MS });
  try {
    const refresh = decodeRefresh(await store.get("refresh"));
    // First, while the access token is still ours to present: the gateway denylists this sign-in
    // on every replica, so a copy of the token stops working too. Never fails the local logout.
    const access = await readAccess(store);
    const ended = await endSessionAtGateway({ tenantUrl: profile.tenant, accessToken: access?.token }, { http: ctx.gateway.http(profile), now: ctx.now });
    const said = describeEndSession(ended);
    if (said) ctx.say(`agent-runner-auth: ${said}`);
    if (refresh) {
      try {
        await ctx.oauth.revokeRefreshToken(profile, refresh.token);
        ctx.verbose("refresh token revoked at the identity provider");
      } catch (e) {
        ctx.say(`agent-runner-auth: warning: could not revoke the session at the identity provider (${sanitizeForTerminal((e as Error).message)}); deleting the local tokens anyway`);
      }
    }
    await clearSession(store);
    ctx.say(refresh ? `Logged out of ${sanitizeForTerminal(profile.tenant ?? profile.issuer)} (profile "${ctx.profileName}").` : `No session stored for profile "${ctx.profileName}"; nothing to revoke.`);
    if (refresh) await endHostedSignIn(ctx, profile);
    return 0;
  } finally {
    held.release();
  }
}

/** The pool's sign-in page remembers the person too: end that (session/browser-logout.ts). */
async function endHostedSignIn(ctx: CommandContext, profile: Profile): Promise<void> {
  const { endBrowserSession } = await import("../../session/browser-logout.ts");
  await endBrowserSession(ctx, profile);
}
