/**
 * `exec [--profile P] -- CMD ARGS...`: runs CMD with ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN
 * set (a fresh token, the same rules as `token`) and ANTHROPIC_API_KEY removed. Nothing of ours on
 * stdout; stderr says how long the token lives. Our exit status is the child's (128 + n for a
 * signal, 127/126 when it cannot start): see surfaces/exec-policy.ts.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { storeFlag } from "../../context.ts";
import { ConfigError, usageError } from "../../errors.ts";
import type { StoreKind } from "../../store/types.ts";
import { freshToken } from "../../surfaces/fresh-token.ts";
import { gatewayEnvironment, validityLine } from "../../surfaces/token-output.ts";
import { childEnvironment, spawnFailureMessage } from "../../surfaces/exec-policy.ts";
import type { ChildRunner } from "./child.ts";


export interface ExecOptions {
  store: StoreKind | undefined;
  command: string;
  args: string[];
}

export function parseOptions(args: ParsedArgs, _env: Env): ExecOptions {
  const [command, ...rest] = args.positionals;
  if (command === undefined || command === "") throw usageError("exec needs a command to run", "Usage: agent-runner-auth exec [--profile P] -- CMD [ARGS...]");
  return { store: storeFlag(args), command, args: rest };
}

export async function run(ctx: CommandContext, options: ExecOptions, runChild?: ChildRunner): Promise<number> {
  const handed = await freshToken(ctx, options.store);
  if (!handed.profile.tenant) throw noTenant(ctx.profileName);
  const { set, unset } = gatewayEnvironment(handed.profile.tenant, handed.token);
  ctx.say(validityLine(handed.expiresAt, ctx.now(), "exec"));
  const runner = runChild ?? (await import("./child-runner.ts")).spawnChild;
  const end = await runner(options.command, options.args, childEnvironment(ctx.env, set, unset));
  if (end.kind === "spawn-failed") ctx.say(`agent-runner-auth: ${spawnFailureMessage(options.command, end.errorCode)}`);
  return end.exitCode;
}

export function noTenant(profile: string): ConfigError {
  return new ConfigError(`profile "${profile}" has no tenant URL (it was set up with --issuer), so there is no gateway base URL to give the command`, "Log in with the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>");
}
