/**
 * The person's own access token for a call to the gateway (`admin …` without a key file, `usage`):
 * the session use case of `token` (session/session.ts) with the same rules: the stored token if it
 * is still valid, else a silent refresh under the profile lock, and a browser sign-in only where
 * `token` would open one (a person at a terminal with a display, no $CI, no cool-down). The status
 * line never signs in. Asked at most once per process.
 */
import type { CommandContext } from "../commands/context.ts";
import { commandFor, type Profile } from "../config.ts";
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

export function sessionAccessToken(ctx: CommandContext, profile: Profile, store: SecretStore, options: SessionTokenOptions): AccessTokenProvider {
  let token: Promise<string> | undefined;
  const get = async (): Promise<string> => {
    const { getToken } = await import("../session/session.ts");
    const { sessionPorts } = await import("../session/ports.ts");
    const { automaticLogin, LOCK_TIMEOUT_MS } = await import("../session/interactive-login.ts");
    const loginCommand = commandFor("login", ctx.profileName);
    const blocker = options.interactive ? ctx.terminal.interactiveLoginBlocker() : "this command never opens a browser";
    const ports = sessionPorts(ctx, profile, store, {
      lockTimeoutMs: options.lockTimeoutMs ?? LOCK_TIMEOUT_MS,
      warn: (m) => ctx.say(`agent-runner-auth: warning: ${m}`),
      login: blocker ? { unavailable: blocker } : automaticLogin(ctx, profile, { noBrowser: false }, loginCommand),
    });
    return getToken(ports, GATEWAY_TOKEN_VALIDITY_MS);
  };
  return () => (token ??= get());
}
