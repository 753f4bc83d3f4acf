/**
 * The ports of the session use case (session.ts) for a profile, from a command's context: the
 * profile lock, the refresh grant and the store. `token` and `doctor` differ only in how they
 * may log in, warn, and how long they wait for the lock.
 */
import type { CommandContext } from "../commands/context.ts";
import { commandFor, refreshLifetimeMs, type Profile } from "../config.ts";
import { RefreshRejected } from "../errors.ts";
import type { SecretStore } from "../store/types.ts";
import type { TokenPorts } from "./session.ts";

export function sessionPorts(
  ctx: Pick<CommandContext, "profileName" | "now" | "lock" | "oauth" | "say" | "verbose">,
  profile: Profile,
  store: SecretStore,
  options: { login: TokenPorts["login"]; warn: TokenPorts["warn"]; lockTimeoutMs: number },
): TokenPorts {
  return {
    store,
    now: ctx.now,
    lock: () =>
      ctx.lock({
        timeoutMs: options.lockTimeoutMs,
        onWait: () => ctx.verbose("another process is refreshing or signing in: waiting"),
        // A short wait (a refresh under contention) stays quiet; a long one says whom it waits for.
        onLongWait: (wait) => ctx.say(`agent-runner-auth: ${(require("../lock.ts") as typeof import("../lock.ts")).longWaitMessage(wait)}`),
      }),
    refresh: (refreshToken) => {
      ctx.verbose(`refreshing at ${profile.endpoints.token}`);
      return ctx.oauth.refreshTokens(profile, refreshToken);
    },
    login: options.login,
    isRefreshRejected: (e) => e instanceof RefreshRejected,
    warn: options.warn,
    refreshTokenLifetimeMs: refreshLifetimeMs(profile),
    loginCommand: commandFor("login", ctx.profileName),
  };
}
