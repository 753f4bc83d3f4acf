/**
 * Entry point of the `agent-runner-auth` binary: parses the command line, loads only the
 * command that runs (the `token` path's start-up time is a feature), and turns every failure
 * into one message on stderr and a documented exit code.
 */
import { parseArgs } from "./args.ts";
import { CliError, ExitCode, usageError } from "./errors.ts";
import { findCommand, renderCommandHelp, renderMainHelp } from "./commands/registry.ts";
import type { CommandContext } from "./commands/context.ts";
import { VERSION, COMMIT } from "./version.ts";

type CommandModule = { run(ctx: CommandContext): Promise<number> };

const loaders: Record<string, () => Promise<CommandModule>> = {
  token: () => import("./commands/token.ts"),
  login: () => import("./commands/login.ts"),
  status: () => import("./commands/status.ts"),
  logout: () => import("./commands/logout.ts"),
  "move-store": () => import("./commands/move-store.ts"),
  setup: () => import("./commands/setup.ts"),
  doctor: () => import("./commands/doctor.ts"),
  completion: () => import("./commands/completion.ts"),
};

/**
 * Status output: plain text on stderr, written synchronously (ordered with the exit). Not
 * console.error, which colours its output on a terminal; node:fs only loads when something is said.
 */
const say = (line: string) => {
  (require("node:fs") as typeof import("node:fs")).writeSync(2, line + "\n");
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" && rest[0] ? findCommand(rest[0]) : undefined;
    process.stdout.write(topic ? renderCommandHelp(topic) : renderMainHelp());
    return name === undefined ? ExitCode.usage : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`agent-runner-auth ${VERSION} (${COMMIT})`);
    return 0;
  }
  const spec = findCommand(name);
  const load = loaders[name];
  if (!spec || !load) throw usageError(`unknown command "${name}"`, "Run 'agent-runner-auth --help' for the list of commands.");
  const args = parseArgs(rest, spec.options, name);
  if (args.flags.help) {
    process.stdout.write(renderCommandHelp(spec));
    return 0;
  }
  if (!spec.takesArguments && args.positionals.length > 0) throw usageError(`'${name}' takes no arguments, got "${args.positionals[0]}"`);
  const { resolveProfileName, resolveStoreKind } = await import("./commands/context.ts");
  resolveStoreKind(args, null); // rejects a bad --store or AGENT_RUNNER_AUTH_STORE before any work
  const verbose = Boolean(args.flags.verbose);
  const ctx: CommandContext = {
    args,
    profileName: resolveProfileName(args),
    say,
    verbose: verbose ? (line) => say(`agent-runner-auth: ${line}`) : () => {},
  };
  return (await load()).run(ctx);
}

function report(error: unknown): number {
  // Last resort: a message may quote the IdP or the tenant; no control sequence reaches the
  // terminal even if a boundary missed it. Loaded here only: never on the cached token path.
  const { sanitizeLines } = require("./terminal-text.ts") as typeof import("./terminal-text.ts");
  if (error instanceof CliError) {
    say(`agent-runner-auth: ${sanitizeLines(error.message)}`);
    if (error.hint) say(sanitizeLines(error.hint));
    return error.exitCode;
  }
  // A bug, not a user error: still one line, and the stack only on request.
  say(`agent-runner-auth: internal error: ${sanitizeLines(String((error as Error)?.message ?? error))}`);
  if (process.env.AGENT_RUNNER_AUTH_DEBUG) say(String((error as Error)?.stack));
  say("Please report this at https://github.com/copebit/agent-runner-auth/issues (run with AGENT_RUNNER_AUTH_DEBUG=1 for details).");
  return 70;
}

process.on("SIGINT", () => {
  say("agent-runner-auth: interrupted");
  process.exit(ExitCode.interrupted);
});

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (e) {
  code = report(e);
}
// Exit explicitly: a keychain or listener handle must not keep the helper alive.
process.exit(code);
