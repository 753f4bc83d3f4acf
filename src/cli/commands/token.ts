/** `token`: the apiKeyHelper path. Only the token goes to stdout. */
import type { CommandContext } from "./context.ts";
import { openProfileStore, resolveStoreKind } from "./context.ts";
import { commandFor, requireProfile } from "../config.ts";
import { sessionPorts } from "./session-ports.ts";
import { parseDuration } from "../args.ts";
import { getToken, readAccess } from "../session/session.ts";
import { isFresh } from "../session/records.ts";
import { CliError, ExitCode, usageError } from "../errors.ts";

export const DEFAULT_MIN_VALIDITY_MS = 5 * 60_000;
/** Claude Code keeps a helper value for its TTL and a while after (stale-while-revalidate). */
export const HELPER_TTL_MARGIN_MS = 2 * 60_000;
/** How long a caller waits for another process's refresh or login. */
export const LOCK_TIMEOUT_MS = 6 * 60_000;

/** The validity a served token must have: --min-validity, or the consumer's cache TTL + margin. */
export function requestedValidityMs(minValidity: string | undefined, helperTtl: string | undefined): number {
  const floor = minValidity !== undefined ? parseDuration("min-validity", minValidity) : DEFAULT_MIN_VALIDITY_MS;
  if (helperTtl === undefined || helperTtl === "") return floor;
  const ttl = Number(helperTtl);
  if (!Number.isFinite(ttl) || ttl < 0) throw usageError(`CLAUDE_CODE_API_KEY_HELPER_TTL_MS must be a number of milliseconds, got "${helperTtl}"`);
  return Math.max(floor, ttl + HELPER_TTL_MARGIN_MS);
}

export async function run(ctx: CommandContext): Promise<number> {
  const validityMs = requestedValidityMs(ctx.args.values["min-validity"], process.env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS);
  const profile = await requireProfile(ctx.profileName);
  const store = await openProfileStore(ctx, resolveStoreKind(ctx.args, profile));

  const access = await readAccess(store);
  if (access && isFresh(access, Date.now(), validityMs)) {
    ctx.verbose("cached access token is fresh");
    console.log(access.token);
    return 0;
  }

  ctx.verbose("no fresh access token: taking the profile lock");
  // Each module is loaded only by the step that needs it: the non-interactive error stays fast.
  const { interactiveLoginBlocker } = await import("../environment.ts");
  const blocker = interactiveLoginBlocker();
  const loginCommand = commandFor("login", ctx.profileName);
  const token = await getToken(
    sessionPorts(ctx, profile, store, {
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      warn: (m) => ctx.say(`agent-runner-auth: warning: ${m}`),
      login: blocker
        ? { unavailable: blocker }
        : async () => {
            // Under the lock: a caller that waited for a failed login must not open another tab.
            const { readAttempt, cooldownBlocker, recordedLogin } = await import("../login-cooldown.ts");
            const { browserLogin, loginTimeoutMs } = await import("./login.ts");
            const coolingDown = cooldownBlocker(await readAttempt(ctx.profileName), Date.now(), loginTimeoutMs(ctx));
            if (coolingDown) throw new CliError(ExitCode.authRequired, `you are not logged in, and ${coolingDown}`, `Run: ${loginCommand}`);
            return recordedLogin(ctx.profileName, Date.now, browserLogin(ctx, profile));
          },
    }),
    validityMs,
    { access },
  );
  console.log(token);
  return 0;
}
