/**
 * `exec [--profile P] [--keep-fresh] -- CMD ARGS...`: runs CMD with ANTHROPIC_BASE_URL and
 * ANTHROPIC_AUTH_TOKEN set and ANTHROPIC_API_KEY removed. Without --keep-fresh the child gets a
 * fresh access token (the same rules as `token`), which nothing refreshes inside it: stderr says
 * how long it lives. With --keep-fresh the child talks to a forwarder on 127.0.0.1 with a per-run
 * secret, and every request gets a fresh token (surfaces/keep-fresh.ts) for as long as it runs.
 * Nothing of ours on stdout. Our exit status is the child's (128 + n for a signal, 127/126 when it
 * cannot start): see surfaces/exec-policy.ts.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { storeFlag } from "../../context.ts";
import { ConfigError, usageError } from "../../errors.ts";
import type { StoreKind } from "../../store/types.ts";
import { freshToken, keptFresh } from "../../surfaces/fresh-token.ts";
import { gatewayEnvironment, validityLine } from "../../surfaces/token-output.ts";
import { childEnvironment, spawnFailureMessage } from "../../surfaces/exec-policy.ts";
import type { Forwarder, ForwarderOptions } from "../../surfaces/keep-fresh.ts";
import type { ChildRunner } from "./child.ts";

export interface ExecOptions {
  store: StoreKind | undefined;
  /** A local forwarder that gives every request of the child a fresh token. */
  keepFresh: boolean;
  command: string;
  args: string[];
}

/** The side effects of `exec` besides the context's (real adaptors by default; fakes in tests). */
export interface ExecPorts {
  runChild?: ChildRunner;
  startForwarder?: (options: ForwarderOptions) => Forwarder;
}

export function parseOptions(args: ParsedArgs, _env: Env): ExecOptions {
  const [command, ...rest] = args.positionals;
  if (command === undefined || command === "") throw usageError("exec needs a command to run", "Usage: agent-runner-auth exec [--profile P] [--keep-fresh] -- CMD [ARGS...]");
  return { store: storeFlag(args), keepFresh: Boolean(args.flags["keep-fresh"]), command, args: rest };
}

export async function run(ctx: CommandContext, options: ExecOptions, ports: ExecPorts = {}): Promise<number> {
  // at the start, the rules of `token`: a browser sign-in where a person is there
  const handed = await freshToken(ctx, options.store);
  const tenant = handed.profile.tenant;
  if (!tenant) throw noTenant(ctx.profileName);
  const runner = ports.runChild ?? (await import("./child-runner.ts")).spawnChild;
  let forwarder: Forwarder | null = null;
  try {
    let variables: ReturnType<typeof gatewayEnvironment>;
    if (options.keepFresh) {
      const start = ports.startForwarder ?? (await import("../../surfaces/keep-fresh.ts")).startForwarder;
      forwarder = start({
        tenantUrl: tenant,
        accessToken: keptFresh(ctx, handed.profile, handed.store),
        send: (url, init) => ctx.oauth.stream(url, init, handed.profile),
        say: ctx.say,
      });
      variables = gatewayEnvironment(forwarder.origin, forwarder.secret);
      ctx.say(`agent-runner-auth: forwarding the command's API requests to ${tenant} through ${forwarder.origin}, each with a fresh token, until it ends.`);
    } else {
      variables = gatewayEnvironment(tenant, handed.token);
      ctx.say(validityLine(handed.expiresAt, ctx.now(), "exec"));
    }
    const end = await runner(options.command, options.args, childEnvironment(ctx.env, variables.set, variables.unset));
    if (end.kind === "spawn-failed") ctx.say(`agent-runner-auth: ${spawnFailureMessage(options.command, end.errorCode)}`);
    return end.exitCode;
  } finally {
    forwarder?.close(); // it ends with the child
  }
}

export function noTenant(profile: string): ConfigError {
  return new ConfigError(`profile "${profile}" has no tenant URL (it was set up with --issuer), so there is no gateway base URL to give the command`, "Log in with the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>");
}
