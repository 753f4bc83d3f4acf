/**
 * The ports of the session use case (session/session.ts) for a profile: the profile lock, the
 * refresh grant and the store, each loading its module only when used (the `token` command's
 * slow paths stay lean). `token` and `doctor` differ only in how they may log in and warn.
 */
import type { CommandContext } from "./context.ts";
import { commandFor, refreshLifetimeMs, type Profile } from "../config.ts";
import type { SecretStore } from "../store/types.ts";
import type { TokenPorts } from "../session/session.ts";

export function sessionPorts(
  ctx: CommandContext,
  profile: Profile,
  store: SecretStore,
  options: { login: TokenPorts["login"]; warn: TokenPorts["warn"]; lockTimeoutMs: number },
): TokenPorts {
  return {
    store,
    now: Date.now,
    lock: async () => {
      const { acquireLock, longWaitMessage } = await import("../lock.ts");
      return acquireLock(ctx.profileName, {
        timeoutMs: options.lockTimeoutMs,
        onWait: () => ctx.verbose("another process is refreshing or signing in: waiting"),
        // A short wait (a refresh under contention) stays quiet; a long one says whom it waits for.
        onLongWait: (wait) => ctx.say(`agent-runner-auth: ${longWaitMessage(wait)}`),
      });
    },
    refresh: async (refreshToken) => {
      ctx.verbose(`refreshing at ${profile.endpoints.token}`);
      const { refreshTokens } = await import("../oauth/client.ts");
      return refreshTokens(profile, refreshToken);
    },
    login: options.login,
    isRefreshRejected: (e) => (e as Error)?.name === "RefreshRejected",
    warn: options.warn,
    refreshTokenLifetimeMs: refreshLifetimeMs(profile),
    loginCommand: commandFor("login", ctx.profileName),
  };
}
