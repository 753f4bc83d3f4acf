/** `token`: the apiKeyHelper path. Only the token goes to stdout. */
import type { ParsedArgs } from "../../args.ts";
import { parseDuration } from "../../args.ts";
import type { CommandContext, Env } from "../context.ts";
import { resolveStoreKind, storeFlag } from "../context.ts";
import { commandFor } from "../../config.ts";
import { getToken, readAccess } from "../../session/session.ts";
import { isFresh } from "../../session/records.ts";
import { usageError } from "../../errors.ts";
import type { StoreKind } from "../../store/types.ts";

export const DEFAULT_MIN_VALIDITY_MS = 5 * 60_000;
/** Claude Code keeps a helper value for its TTL and a while after (stale-while-revalidate). */
export const HELPER_TTL_MARGIN_MS = 2 * 60_000;

export interface TokenOptions {
  store: StoreKind | undefined;
  /** The validity a served token must have (--min-validity, or the helper TTL + margin). */
  validityMs: number;
  /** For an automatic browser login (--timeout; default in session/interactive-login.ts). */
  loginTimeoutMs: number | undefined;
}

/** The validity a served token must have: --min-validity, or the consumer's cache TTL + margin. */
export function requestedValidityMs(minValidity: string | undefined, helperTtl: string | undefined): number {
  const floor = minValidity !== undefined ? parseDuration("min-validity", minValidity) : DEFAULT_MIN_VALIDITY_MS;
  if (helperTtl === undefined || helperTtl === "") return floor;
  const ttl = Number(helperTtl);
  if (!Number.isFinite(ttl) || ttl < 0) throw usageError(`CLAUDE_CODE_API_KEY_HELPER_TTL_MS must be a number of milliseconds, got "${helperTtl}"`);
  return Math.max(floor, ttl + HELPER_TTL_MARGIN_MS);
}

export function parseOptions(args: ParsedArgs, env: Env): TokenOptions {
  return {
    store: storeFlag(args),
    validityMs: requestedValidityMs(args.values["min-validity"], env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS),
    loginTimeoutMs: args.values.timeout !== undefined ? parseDuration("timeout", args.values.timeout) : undefined,
  };
}

export async function run(ctx: CommandContext, options: TokenOptions): Promise<number> {
  const profile = await ctx.profiles.require(ctx.profileName);
  const store = await ctx.openStore(resolveStoreKind(options.store, ctx.env, profile));

  const access = await readAccess(store);
  if (access && isFresh(access, ctx.now(), options.validityMs)) {
    ctx.verbose("cached access token is fresh");
    ctx.stdout(access.token);
    return 0;
  }

  ctx.verbose("no fresh access token: taking the profile lock");
  // Each module is loaded only by the step that needs it: the non-interactive error stays fast.
  const { sessionPorts } = await import("../../session/ports.ts");
  const { automaticLogin, LOCK_TIMEOUT_MS } = await import("../../session/interactive-login.ts");
  const blocker = ctx.terminal.interactiveLoginBlocker();
  const loginCommand = commandFor("login", ctx.profileName);
  const token = await getToken(
    sessionPorts(ctx, profile, store, {
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      warn: (m) => ctx.say(`agent-runner-auth: warning: ${m}`),
      login: blocker ? { unavailable: blocker } : automaticLogin(ctx, profile, { noBrowser: false, timeoutMs: options.loginTimeoutMs }, loginCommand),
    }),
    options.validityMs,
    { access },
  );
  ctx.stdout(token);
  return 0;
}
