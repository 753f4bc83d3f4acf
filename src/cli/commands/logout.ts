/** `logout`: revoke at the IdP, then delete locally; offline it still deletes, and warns. */
import type { CommandContext } from "./context.ts";
import { openProfileStore, resolveStoreKind } from "./context.ts";
import { requireProfile } from "../config.ts";
import { decodeRefresh } from "../session/records.ts";
import { clearSession } from "../session/session.ts";
import { revokeRefreshToken } from "../oauth/client.ts";
import { acquireLock } from "../lock.ts";
import { LOCK_TIMEOUT_MS } from "./token.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";

export async function run(ctx: CommandContext): Promise<number> {
  const profile = await requireProfile(ctx.profileName);
  const store = await openProfileStore(ctx, resolveStoreKind(ctx.args, profile));
  const held = await acquireLock(ctx.profileName, { timeoutMs: LOCK_TIMEOUT_MS });
  try {
    const refresh = decodeRefresh(await store.get("refresh"));
    if (refresh) {
      try {
        await revokeRefreshToken(profile, refresh.token);
        ctx.verbose("refresh token revoked at the identity provider");
      } catch (e) {
        ctx.say(`agent-runner-auth: warning: could not revoke the session at the identity provider (${sanitizeForTerminal((e as Error).message)}); deleting the local tokens anyway`);
      }
    }
    await clearSession(store);
    ctx.say(refresh ? `Logged out of ${sanitizeForTerminal(profile.tenant ?? profile.issuer)} (profile "${ctx.profileName}").` : `No session stored for profile "${ctx.profileName}"; nothing to revoke.`);
    return 0;
  } finally {
    held.release();
  }
}
