/** `token`: the apiKeyHelper path. Only the token goes to stdout. */
import type { CommandContext } from "./context.ts";
import { openProfileStore, resolveStoreKind } from "./context.ts";
import { requireProfile } from "../config.ts";
import { parseDuration } from "../args.ts";
import { cachedToken, getToken } from "../session/session.ts";
import { usageError } from "../errors.ts";

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

  const cached = await cachedToken(store, Date.now(), validityMs);
  if (cached) {
    ctx.verbose("cached access token is fresh");
    console.log(cached);
    return 0;
  }

  ctx.verbose("no fresh access token: taking the profile lock");
  const { refreshTokens, RefreshRejected } = await import("../oauth/client.ts");
  const { acquireLock } = await import("../lock.ts");
  const { interactiveLoginBlocker } = await import("../environment.ts");
  const blocker = interactiveLoginBlocker();
  const token = await getToken(
    {
      store,
      now: Date.now,
      lock: () => acquireLock(ctx.profileName, { timeoutMs: LOCK_TIMEOUT_MS, onWait: () => ctx.verbose("another process is refreshing or signing in: waiting") }),
      refresh: (refreshToken) => {
        ctx.verbose(`refreshing at ${profile.endpoints.token}`);
        return refreshTokens(profile, refreshToken);
      },
      login: blocker
        ? { unavailable: blocker }
        : async () => {
            const { browserLogin } = await import("./login.ts");
            return browserLogin(ctx, profile)();
          },
      isRefreshRejected: (e) => e instanceof RefreshRejected,
      warn: (m) => ctx.say(`agent-runner-auth: warning: ${m}`),
      refreshTokenLifetimeMs: profile.refreshTokenLifetimeSeconds ? profile.refreshTokenLifetimeSeconds * 1000 : undefined,
      loginCommand: `agent-runner-auth login${ctx.profileName === "default" ? "" : ` --profile ${ctx.profileName}`}`,
    },
    validityMs,
  );
  console.log(token);
  return 0;
}
