/**
 * The person's own access token for a call to the gateway (`admin …` without a key file, `usage`):
 * the session use case of `token` (session/acquire-token.ts) with the same rules: the stored token if it
 * is still valid, else a silent refresh under the profile lock, and a browser sign-in only where
 * `token` would open one (a person at a terminal with a display, no $CI, no cool-down). The status
 * line never signs in. Asked at most once per process.
 */
import type { CommandContext } from "../context.ts";
import type { Profile } from "../config.ts";
import type { SessionContext } from "../session/acquire-token.ts";
import type { SecretStore } from "../store/types.ts";
import type { AccessTokenProvider } from "./client.ts";

/** The token is used at once, for one request: a minute of validity is plenty. */
export const GATEWAY_TOKEN_VALIDITY_MS = 60_000;

export interface SessionTokenOptions {
  /** Whether a browser sign-in may happen (where `token` would allow it); false for the status line. */
  interactive: boolean;
  /** How long to wait for another process's refresh or sign-in (default: session/interactive-login.ts's). */
  lockTimeoutMs?: number;
}

export function sessionAccessToken(ctx: SessionContext & Pick<CommandContext, "terminal">, profile: Profile, store: SecretStore, options: SessionTokenOptions): AccessTokenProvider {
  let token: Promise<string> | undefined;
  const get = async (): Promise<string> => {
    const { acquireToken } = await import("../session/acquire-token.ts");
    const served = await acquireToken(ctx, profile, store, {
      validityMs: GATEWAY_TOKEN_VALIDITY_MS,
      loginBlocker: options.interactive ? ctx.terminal.interactiveLoginBlocker() : "this command never opens a browser",
      ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    });
    return served.access.token;
  };
  return () => (token ??= get());
}
