/**
 * Entry point of the `agent-runner-auth` binary: parses the command line, loads only the
 * command that runs (the `token` path's start-up time is a feature), builds its context in the
 * one factory (factory.ts), and turns every failure into one message on stderr and the exit code
 * of the one table (errors.ts), here and nowhere else.
 */
import { parseArgs } from "./args.ts";
import { CliError, ExitCode, exitCodeOf, InterruptedError, usageError } from "./errors.ts";
import { renderCommandHelp, renderGroupHelp, renderMainHelp, resolveCommand } from "./commands/registry.ts";
import type { CommandContext, Env } from "./context.ts";
import type { ParsedArgs } from "./args.ts";
import { VERSION, COMMIT } from "./version.ts";

/** Any command module (context.ts's CommandModule<O>, with O erased). */
interface LoadedCommand {
  /** `path`: the command's words, for a module that serves a group (["admin", "budget", "set"]). */
  parseOptions(args: ParsedArgs, env: Env, path: string[]): unknown;
  run(ctx: CommandContext, options: never): Promise<number>;
}

const loaders: Record<string, () => Promise<LoadedCommand>> = {
  token: () => import("./commands/token/token.ts"),
  login: () => import("./commands/login/login.ts"),
  status: () => import("./commands/status/status.ts"),
  logout: () => import("./commands/logout/logout.ts"),
  "move-store": () => import("./commands/move-store/move-store.ts"),
  setup: () => import("./commands/setup/setup.ts"),
  doctor: () => import("./commands/doctor/doctor.ts"),
  completion: () => import("./commands/completion/completion.ts"),
  admin: () => import("./commands/admin/admin.ts"),
  usage: () => import("./commands/usage/usage.ts"),
  exec: () => import("./commands/exec/exec.ts"),
  env: () => import("./commands/env/env.ts"),
};

/** stderr before the factory is loaded (help, version, errors): synchronous, plain. */
const say = (line: string) => {
  (require("node:fs") as typeof import("node:fs")).writeSync(2, line + "\n");
};

/**
 * Claude Desktop runs its credential helper with no arguments: a link to this binary named
 * `agent-runner-auth-desktop-helper[.P]` is `token --format desktop [--profile P]` (its own
 * arguments ignored). A substring test first, so other runs load nothing for it.
 */
async function helperAliasArgv(argv: string[]): Promise<string[]> {
  if (!process.argv0.includes("-desktop-helper")) return argv;
  const { parseHelperAlias } = await import("./surfaces/desktop-config.ts");
  const alias = parseHelperAlias(process.argv0, process.platform);
  if (!alias) return argv;
  return ["token", "--format", "desktop", ...(alias.profile === "default" ? [] : ["--profile", alias.profile])];
}

async function main(original: string[]): Promise<number> {
  const argv = await helperAliasArgv(original);
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" ? resolveCommand(rest) : undefined;
    process.stdout.write(topic ? ("spec" in topic ? renderCommandHelp(topic.spec) : renderGroupHelp(topic.group)) : renderMainHelp());
    return name === undefined ? ExitCode.usage : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`agent-runner-auth ${VERSION} (${COMMIT})`);
    return 0;
  }
  const resolved = resolveCommand(argv);
  if (resolved && "group" in resolved) {
    // `admin`, `admin --help`, `admin budget`: the group's commands; anything else is unknown
    const [next] = resolved.rest;
    if (next === undefined || next === "--help" || next === "-h") {
      process.stdout.write(renderGroupHelp(resolved.group));
      return next === undefined ? ExitCode.usage : 0;
    }
    throw usageError(`unknown command "${resolved.group.name} ${next}"`, `Run 'agent-runner-auth ${resolved.group.name} --help' for its commands.`);
  }
  const path = resolved?.spec.name.split(" ") ?? [];
  const load = loaders[path[0] ?? ""];
  if (!resolved || !load) throw usageError(`unknown command "${name}"`, "Run 'agent-runner-auth --help' for the list of commands.");
  const { spec } = resolved;
  const args = parseArgs(resolved.rest, spec.options, spec.name);
  if (args.flags.help) {
    process.stdout.write(renderCommandHelp(spec));
    return 0;
  }
  if (!spec.takesArguments && args.positionals.length > 0) throw usageError(`'${spec.name}' takes no arguments, got "${args.positionals[0]}"`);
  const { chooseProfileHere, resolveStoreKind, storeFlag } = await import("./context.ts");
  resolveStoreKind(storeFlag(args), process.env, null); // rejects a bad --store or AGENT_RUNNER_AUTH_STORE before any work
  const profile = await chooseProfileHere(args.values.profile, process.env, process.cwd());
  const command = await load();
  const options = command.parseOptions(args, process.env, path) as never; // this module's own options type
  const { createContext } = await import("./factory.ts");
  return command.run(createContext({ profileName: profile.name, profileReason: profile.reason, verbose: Boolean(args.flags.verbose), caFile: args.values["ca-file"] }), options);
}

/** The one place a failure becomes a message and an exit code. */
function report(error: unknown): number {
  // Last resort: a message may quote the IdP or the tenant; no control sequence reaches the
  // terminal even if a boundary missed it. Loaded here only: never on the cached token path.
  const { sanitizeLines } = require("./terminal-text.ts") as typeof import("./terminal-text.ts");
  if (error instanceof CliError) {
    say(`agent-runner-auth: ${sanitizeLines(error.message)}`);
    if (error.hint) say(sanitizeLines(error.hint));
    if (process.env.AGENT_RUNNER_AUTH_DEBUG && error.cause !== undefined) say(`cause: ${sanitizeLines(String((error.cause as Error)?.stack ?? error.cause))}`);
    return exitCodeOf(error);
  }
  // A bug, not a user error: still one line, and the stack only on request.
  say(`agent-runner-auth: internal error: ${sanitizeLines(String((error as Error)?.message ?? error))}`);
  if (process.env.AGENT_RUNNER_AUTH_DEBUG) say(String((error as Error)?.stack));
  say("Please report this at https://github.com/copebit/agent-runner-auth/issues (run with AGENT_RUNNER_AUTH_DEBUG=1 for details).");
  return exitCodeOf(error);
}

process.on("SIGINT", () => {
  process.exit(report(new InterruptedError()));
});

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (e) {
  code = report(e);
}
// Exit explicitly: a keychain or listener handle must not keep the helper alive.
process.exit(code);
