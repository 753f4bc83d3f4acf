/**
 * The interactive login as a use case, shared by `login` (explicit: always runs) and `token`
 * (automatic: only with a person there, and not again within the cool-down after an unfinished
 * one, so a background caller never opens a tab storm). Both run under the profile lock.
 */
import type { CommandContext } from "../context.ts";
import type { Profile } from "../config.ts";
import type { TokenSet } from "./records.ts";
import { AuthRequiredError } from "../errors.ts";
import { cooldownBlocker, recordedLogin } from "./login-cooldown.ts";

/** How long a caller waits for another process's refresh or login of the same profile. */
export const LOCK_TIMEOUT_MS = 6 * 60_000;
export const DEFAULT_LOGIN_TIMEOUT_MS = 5 * 60_000;

export interface LoginSettings {
  /** Print the sign-in URL instead of opening a browser (--no-browser). */
  noBrowser: boolean;
  /** Give up on a sign-in nobody finishes (default DEFAULT_LOGIN_TIMEOUT_MS). */
  timeoutMs?: number | undefined;
  /** Only this registered callback port (--port). */
  port?: number;
  /** `login --switch-user`: show the sign-in form even if the hosted page remembers someone. */
  switchUser?: boolean;
  /** Lines under the address when no browser opens (oauth/login.ts headlessHelp). */
  headlessHelp?: (callbackPort: number | null) => string[];
}

type LoginPorts = Pick<CommandContext, "profileName" | "profiles" | "oauth" | "browser" | "say">;

/** The browser login for a profile, checked by the endpoint policy before anything starts. */
export function browserLogin(ports: LoginPorts, profile: Profile, settings: LoginSettings): () => Promise<TokenSet> {
  return async () => {
    // `token` logs in with the saved profile: checked before a listener starts or a browser opens.
    const { checkProfile } = await import("../oauth/client.ts");
    const { authorizeParams } = await import("../oauth/authorize-params.ts");
    checkProfile(profile, ports.profiles.path(ports.profileName));
    return ports.oauth.signIn({
      profile,
      browser: settings.noBrowser ? null : ports.browser,
      timeoutMs: settings.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS,
      say: ports.say,
      authorizeParams: authorizeParams({ profile, ...(settings.switchUser ? { switchUser: true } : {}) }),
      ...(settings.port !== undefined ? { port: settings.port } : {}),
      ...(settings.headlessHelp ? { headlessHelp: settings.headlessHelp } : {}),
    });
  };
}

/**
 * The automatic login of `token`: refused during the cool-down after an unfinished attempt, and
 * recorded (start, and end when it fails) so the next caller knows. Called under the lock: a
 * caller that waited for a failed login must not open another tab.
 */
export function automaticLogin(ports: LoginPorts & Pick<CommandContext, "attempts" | "now">, profile: Profile, settings: LoginSettings, loginCommand: string): () => Promise<TokenSet> {
  return async () => {
    const coolingDown = cooldownBlocker(await ports.attempts.read(ports.profileName), ports.now(), settings.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS);
    if (coolingDown) throw new AuthRequiredError(`you are not logged in, and ${coolingDown}`, `Run: ${loginCommand}`);
    const tokens = await recordedLogin(ports.attempts, ports.profileName, ports.now, browserLogin(ports, profile, settings));
    if (profile.loggedOut) {
      // Someone signed in through the form: later sign-ins may use the hosted session again.
      const { loggedOut: _, ...rest } = profile;
      await ports.profiles.write(ports.profileName, rest);
    }
    return tokens;
  };
}
