/** `token`: the apiKeyHelper path. Only the token goes to stdout. */
import type { ParsedArgs } from "../../args.ts";
import { parseDuration } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { resolveStoreKind, storeFlag } from "../../context.ts";
import { readAccess } from "../../session/session.ts";
import { isFresh } from "../../session/records.ts";
import { CliError, usageError } from "../../errors.ts";
import type { StoreKind } from "../../store/types.ts";
import type { TokenFormat } from "../../surfaces/token-output.ts";

export const DEFAULT_MIN_VALIDITY_MS = 5 * 60_000;
/** Claude Code keeps a helper value for its TTL and a while after (stale-while-revalidate). */
export const HELPER_TTL_MARGIN_MS = 2 * 60_000;

export interface TokenOptions {
  store: StoreKind | undefined;
  /** The validity a served token must have (--min-validity, or the helper TTL + margin). */
  validityMs: number;
  /** For an automatic browser login (--timeout; default in session/interactive-login.ts). */
  loginTimeoutMs: number | undefined;
  /** bare (Claude Code), desktop ({"token", "headers"}), headers (an MCP headersHelper). */
  format: TokenFormat;
}

const FORMATS: readonly TokenFormat[] = ["bare", "desktop", "headers"];

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
    format: parseFormat(args.values.format),
  };
}

function parseFormat(value: string | undefined): TokenFormat {
  if (value === undefined) return "bare";
  if (!(FORMATS as readonly string[]).includes(value)) throw usageError(`--format must be bare, desktop or headers, got "${value}"`);
  return value as TokenFormat;
}

/** The one stdout line: the bare token stays free of any import (the cached path). */
async function print(ctx: CommandContext, format: TokenFormat, token: string): Promise<void> {
  if (format === "bare") return ctx.stdout(token);
  const { renderToken } = await import("../../surfaces/token-output.ts");
  ctx.stdout(renderToken(format, token));
}

export async function run(ctx: CommandContext, options: TokenOptions): Promise<number> {
  const profile = await ctx.profiles.require(ctx.profileName);
  const store = await ctx.openStore(resolveStoreKind(options.store, ctx.env, profile));

  const access = await readAccess(store);
  if (access && isFresh(access, ctx.now(), options.validityMs)) {
    ctx.verbose("cached access token is fresh");
    await print(ctx, options.format, access.token);
    return 0;
  }

  ctx.verbose("no fresh access token: taking the profile lock");
  const started = ctx.now();
  // Each module is loaded only by the step that needs it: the non-interactive error stays fast.
  const { acquireToken } = await import("../../session/acquire-token.ts");
  const { LOCK_TIMEOUT_MS, DEFAULT_LOGIN_TIMEOUT_MS } = await import("../../session/interactive-login.ts");
  const { helperPolicy, withinBudget } = await import("../../surfaces/helper-context.ts");
  // CLAUDE_HELPER_CONTEXT (Claude Desktop): only `interactive` may open a browser, even without a
  // terminal; every context has a deadline inside Desktop's. Without it: a terminal and a display.
  const policy = ctx.env.CLAUDE_HELPER_CONTEXT ? helperPolicy({ env: ctx.env, platform: ctx.platform, ...ctx.terminal.facts() }) : null;
  if (policy?.note) ctx.say(policy.note);
  const blocker = policy ? policy.blocker : ctx.terminal.interactiveLoginBlocker();
  const budget = (wantedMs: number) => (policy ? withinBudget(wantedMs, policy, ctx.now() - started) : wantedMs);
  try {
    const served = await acquireToken(ctx, profile, store, {
      validityMs: options.validityMs,
      loginBlocker: blocker,
      loginTimeoutMs: budget(options.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS),
      lockTimeoutMs: budget(LOCK_TIMEOUT_MS),
      firstRead: { access },
    });
    await print(ctx, options.format, served.access.token);
    return 0;
  } catch (e) {
    // Desktop shows one line: the command to run goes into it rather than onto a second line.
    if (policy && e instanceof CliError && e.hint) throw new CliError(e.kind, `${e.message}. ${e.hint}`, undefined, { cause: e });
    throw e;
  }
}
