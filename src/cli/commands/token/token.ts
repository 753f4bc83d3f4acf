/** `token`: the apiKeyHelper path. Only the token goes to stdout. */
import type { ParsedArgs } from "../../args.ts";
import { parseDuration } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { resolveStoreKind, storeFlag } from "../../context.ts";
import { readAccess } from "../../session/session.ts";
import { isFresh } from "../../session/records.ts";
import { askGatewayFirst } from "../../session/handouts.ts";
import { commandFor, type Profile } from "../../config.ts";
import type { TokenAcceptance } from "../../gateway/client.ts";
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

/** How long `token` waits for the gateway's word on a token it is about to hand out again. */
export const GATEWAY_CHECK_TIMEOUT_MS = 2_000;

export async function run(ctx: CommandContext, options: TokenOptions): Promise<number> {
  const profile = await ctx.profiles.require(ctx.profileName);
  const store = await ctx.openStore(resolveStoreKind(options.store, ctx.env, profile));

  const [access, handout] = await Promise.all([readAccess(store), ctx.handouts.read(ctx.profileName)]);
  // A re-run soon after the last hand-out (Claude Code's, after a 401) asks the gateway first.
  const askFirst = profile.tenant !== undefined && askGatewayFirst(handout, ctx.now());
  const fresh = access !== null && isFresh(access, ctx.now(), options.validityMs);
  if (fresh && !askFirst) {
    ctx.verbose("cached access token is fresh");
    return handOut(ctx, options.format, access.token);
  }

  if (askFirst) ctx.verbose("a token was handed out under a minute ago (or the gateway refused one since): asking the gateway first");
  if (!fresh) ctx.verbose("no fresh access token: taking the profile lock");
  const started = ctx.now();
  // Each module is loaded only by the step that needs it: the non-interactive error stays fast.
  const { acquireToken, AccessRefusedError } = await import("../../session/acquire-token.ts");
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
      ...(askFirst && profile.tenant !== undefined ? { confirm: gatewayCheck(ctx, profile, profile.tenant, () => budget(GATEWAY_CHECK_TIMEOUT_MS)) } : {}),
    });
    return await handOut(ctx, options.format, served.access.token);
  } catch (e) {
    // the next run asks the gateway again, however late it comes
    if (e instanceof AccessRefusedError) await ctx.handouts.write(ctx.profileName, { ...handout, refusedAt: ctx.now() });
    // Desktop shows one line: the command to run goes into it rather than onto a second line.
    if (policy && e instanceof CliError && e.hint) throw new CliError(e.kind, `${e.message}. ${e.hint}`, undefined, { cause: e });
    throw e;
  }
}

/** Prints the token, then records the hand-out (after: the consumer is not kept waiting for it). */
async function handOut(ctx: CommandContext, format: TokenFormat, token: string): Promise<number> {
  await print(ctx, format, token);
  await ctx.handouts.write(ctx.profileName, { printedAt: ctx.now() });
  return 0;
}

/** Asks the tenant's gateway whether it still accepts a token (GET /_gateway/v1/session), within the time given. */
function gatewayCheck(ctx: CommandContext, profile: Profile, tenant: string, timeoutMs: () => number): (token: string) => Promise<TokenAcceptance> {
  return async (token) => {
    const { createGatewayClient } = await import("../../gateway/client.ts");
    let answer: TokenAcceptance;
    try {
      const client = createGatewayClient({ tenantUrl: tenant, http: ctx.gateway.http(profile), loginCommand: commandFor("login", ctx.profileName) });
      answer = await client.tokenAcceptance(token, { timeoutMs: Math.max(1, timeoutMs()) });
    } catch (e) {
      answer = { verdict: "unknown", why: (e as Error).message };
    }
    if (answer.verdict === "unknown") ctx.verbose(`could not ask the gateway (${answer.why}): handing the token out as before`);
    return answer;
  };
}
