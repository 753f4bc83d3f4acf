/**
 * `usage [--json]`: the person's own use of the gateway today and this month, and what is left of
 * their budgets. `usage --status-line`: one line for Claude Code's `statusLine`, from a private
 * cache (gateway/status-line.ts); it never opens a browser, never reads stdin, never fails (exit
 * 0 with a short word instead), and touches the secret store only when the cache is stale.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { resolveStoreKind, storeFlag } from "../../context.ts";
import { commandFor, type Profile } from "../../config.ts";
import { CliError, ConfigError, ExitCode } from "../../errors.ts";
import { parseUsageCommand, renderUsageCommand } from "../../gateway/admin-commands.ts";
import { createGatewayClient } from "../../gateway/client.ts";
import { sessionAccessToken } from "../../gateway/access-token.ts";
import { GatewayError } from "../../gateway/errors.ts";
import { STATUS_LINE_FETCH_TIMEOUT_MS, statusLineText } from "../../gateway/status-line.ts";
import type { MyUsage } from "../../../shared/gateway-api.ts";
import type { StoreKind } from "../../store/types.ts";

export interface UsageOptions {
  output: "view" | "json" | "status-line";
  store: StoreKind | undefined;
}

export function parseOptions(args: ParsedArgs, _env: Env): UsageOptions {
  return { ...parseUsageCommand(args), store: storeFlag(args) };
}

/** The caller's figures, with their own token (a browser sign-in only where `token` would allow it). */
async function myUsage(ctx: CommandContext, profile: Profile & { tenant: string }, options: UsageOptions, interactive: boolean): Promise<MyUsage> {
  const loginCommand = commandFor("login", ctx.profileName);
  const store = await ctx.openStore(resolveStoreKind(options.store, ctx.env, profile), { quiet: !interactive });
  const token = sessionAccessToken(ctx, profile, store, interactive ? { interactive: true } : { interactive: false, lockTimeoutMs: STATUS_LINE_FETCH_TIMEOUT_MS });
  const client = createGatewayClient({ tenantUrl: profile.tenant, http: ctx.gateway.http(profile), loginCommand, ...(interactive ? {} : { timeoutMs: STATUS_LINE_FETCH_TIMEOUT_MS }) });
  return client.myUsage(await token());
}

async function statusLine(ctx: CommandContext, options: UsageOptions): Promise<number> {
  const loginCommand = commandFor("login", ctx.profileName);
  let line: string;
  try {
    const profile = await ctx.profiles.read(ctx.profileName);
    if (!profile?.tenant) {
      line = `gateway: no tenant (${commandFor("login <tenant URL>", ctx.profileName)})`;
    } else {
      const withTenant = { ...profile, tenant: profile.tenant };
      line = await statusLineText({
        now: ctx.now,
        cache: ctx.gateway.statusLineCache(ctx.profileName),
        tenantUrl: profile.tenant,
        loginCommand,
        fetchUsage: async () => {
          try {
            return await myUsage(ctx, withTenant, options, false);
          } catch (e) {
            // no session (or a dead one) is "sign in", not "unavailable"
            if (!(e instanceof GatewayError) && e instanceof CliError && e.exitCode === ExitCode.authRequired) throw new GatewayError("unauthenticated", e.message, undefined, { cause: e });
            throw e;
          }
        },
      });
    }
  } catch {
    line = "gateway: usage unavailable"; // a status line must never break the UI
  }
  ctx.stdout(line);
  return 0;
}

export async function run(ctx: CommandContext, options: UsageOptions): Promise<number> {
  if (options.output === "status-line") return statusLine(ctx, options);
  const profile = await ctx.profiles.require(ctx.profileName);
  if (!profile.tenant) throw new ConfigError(`profile "${ctx.profileName}" has no tenant URL (it was set up with --issuer), so there is no gateway to ask`, "Log in with the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>");
  const usage = await myUsage(ctx, { ...profile, tenant: profile.tenant }, options, true);
  ctx.stdout(renderUsageCommand(usage, options.output));
  return 0;
}
