/**
 * `env [--shell sh|bash|zsh|fish|powershell]`: the lines `exec` would set, to eval in a shell
 * (`eval "$(agent-runner-auth env)"`). Only those lines on stdout; stderr says how long the token
 * lives (nothing refreshes it in the shell).
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { storeFlag } from "../../context.ts";
import { ConfigError, usageError } from "../../errors.ts";
import type { StoreKind } from "../../store/types.ts";
import { freshToken } from "../../surfaces/fresh-token.ts";
import { defaultShell, gatewayEnvironment, parseShell, renderEnv, SHELLS, validityLine, type Shell } from "../../surfaces/token-output.ts";

export interface EnvOptions {
  store: StoreKind | undefined;
  shell: Shell;
}

export function parseOptions(args: ParsedArgs, env: Env): EnvOptions {
  const value = args.values.shell;
  const shell = value === undefined ? defaultShell(env, process.platform) : parseShell(value);
  if (shell === null) throw usageError(`--shell must be one of ${SHELLS.join(", ")}, got "${value}"`);
  return { store: storeFlag(args), shell };
}

export async function run(ctx: CommandContext, options: EnvOptions): Promise<number> {
  const handed = await freshToken(ctx, options.store);
  if (!handed.profile.tenant) {
    throw new ConfigError(`profile "${ctx.profileName}" has no tenant URL (it was set up with --issuer), so there is no gateway base URL to print`, "Log in with the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>");
  }
  const { set, unset } = gatewayEnvironment(handed.profile.tenant, handed.token);
  ctx.stdout(renderEnv(options.shell, set, unset));
  ctx.say(validityLine(handed.expiresAt, ctx.now(), "env"));
  return 0;
}
