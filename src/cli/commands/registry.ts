/**
 * Every command's usage and options, as data: `--help`, the argument parser and the man page
 * are all rendered from this table, so they cannot disagree.
 */
import type { OptionSpec } from "../args.ts";
import { EXIT_CODES } from "../errors.ts";

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** Whether the command takes positional arguments (the others refuse any). */
  takesArguments?: boolean;
  description: string;
  options: OptionSpec[];
}

export const PROFILE_OPTION: OptionSpec = {
  name: "profile",
  kind: "value",
  valueName: "NAME",
  description: "profile to use (default: $AGENT_RUNNER_PROFILE or \"default\")",
};
export const STORE_OPTION: OptionSpec = {
  name: "store",
  kind: "value",
  valueName: "keychain|pass|file",
  description: "secret store (default: the profile's, else $AGENT_RUNNER_AUTH_STORE, else keychain); file is plaintext",
};
export const VERBOSE_OPTION: OptionSpec = { name: "verbose", kind: "flag", short: "v", description: "log each step to stderr (never secrets)" };
export const HELP_OPTION: OptionSpec = { name: "help", kind: "flag", short: "h", description: "show this help" };

export const COMMANDS: CommandSpec[] = [
  {
    name: "login",
    takesArguments: true,
    summary: "sign in through the browser and store the tokens",
    usage: "agent-runner-auth login [TENANT_URL] [options]",
    description:
      "Reads the tenant's discovery document (TENANT_URL is https://<slug>.proxy.<domain>), or uses --issuer and --client-id, saves the profile, then runs the authorization code flow with PKCE: a loopback listener on a registered port and your browser. Tokens go to the OS keychain.",
    options: [
      PROFILE_OPTION,
      STORE_OPTION,
      { name: "issuer", kind: "value", valueName: "URL", description: "OpenID issuer (with --client-id, instead of TENANT_URL)" },
      { name: "client-id", kind: "value", valueName: "ID", description: "app client id (with --issuer)" },
      { name: "redirect-uri", kind: "list", valueName: "URI", description: "registered loopback redirect URI (with --issuer; repeatable)" },
      { name: "scope", kind: "value", valueName: "SCOPES", description: "space-separated scopes (with --issuer; default \"openid email profile\")" },
      { name: "no-browser", kind: "flag", description: "print the sign-in URL instead of opening a browser" },
      { name: "port", kind: "value", valueName: "N", description: "use only this registered callback port" },
      { name: "timeout", kind: "value", valueName: "DURATION", description: "give up on a sign-in nobody finishes (default 5m)" },
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
  },
  {
    name: "token",
    summary: "print a valid access token on stdout (for Claude Code's apiKeyHelper)",
    usage: "agent-runner-auth token [options]",
    description:
      "Prints the cached access token when it stays valid long enough, refreshes it silently otherwise, and signs in through the browser only when there is a terminal and a display. Without them (or with $CI set) it prints what to run on stderr and exits 1. If an automatic sign-in is not finished, the browser is not opened again for 10 minutes (no tab storms); 'login' always works. Only the token goes to stdout. When CLAUDE_CODE_API_KEY_HELPER_TTL_MS is set, the token must stay valid for that TTL plus 2 minutes.",
    options: [
      PROFILE_OPTION,
      STORE_OPTION,
      { name: "min-validity", kind: "value", valueName: "DURATION", description: "minimum remaining validity of a served token (default 5m)" },
      { name: "timeout", kind: "value", valueName: "DURATION", description: "give up on an automatic browser sign-in nobody finishes (default 5m)" },
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
  },
  {
    name: "status",
    summary: "show the tenant, user and token expiry",
    usage: "agent-runner-auth status [options]",
    description: "Exits 0 when a usable session exists, 1 otherwise. Human output goes to stderr; --json prints a JSON object on stdout.",
    options: [PROFILE_OPTION, STORE_OPTION, { name: "json", kind: "flag", description: "print JSON on stdout" }, VERBOSE_OPTION, HELP_OPTION],
  },
  {
    name: "setup",
    takesArguments: true,
    summary: "configure Claude Code to use this tenant and this binary as its apiKeyHelper",
    usage: "agent-runner-auth setup claude [options]",
    description:
      "Writes env.ANTHROPIC_BASE_URL (<tenant>/anthropic/v1), env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS (just under the access token's lifetime) and apiKeyHelper (this binary's absolute path and `token`) into Claude Code's settings. Other keys and the file's formatting are kept, a backup is written first (<file>.agent-runner-auth.bak), and running it twice changes nothing. A settings file that is not valid JSON is left untouched.",
    options: [
      PROFILE_OPTION,
      { name: "scope", kind: "value", valueName: "user|project|local", description: "~/.claude/settings.json (default), .claude/settings.json or .claude/settings.local.json" },
      { name: "dry-run", kind: "flag", description: "print the change as a diff on stdout, write nothing" },
      { name: "remove", kind: "flag", description: "take the agent-runner settings out again" },
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
  },
  {
    name: "doctor",
    summary: "check the whole chain (store, session, IdP, proxy, Claude Code settings) and explain fixes",
    usage: "agent-runner-auth doctor [options]",
    description: "Each check prints a verdict and, when it fails, the fix. Never opens a browser and spends no model tokens. Exits 0 only when no check fails.",
    options: [PROFILE_OPTION, { name: "json", kind: "flag", description: "print {ok, profile, checks: [{name, verdict, detail, fix}]} on stdout" }, VERBOSE_OPTION, HELP_OPTION],
  },
  {
    name: "completion",
    takesArguments: true,
    summary: "print a shell completion script (bash, zsh, fish, powershell)",
    usage: "agent-runner-auth completion <bash|zsh|fish|powershell>",
    description: "For example: agent-runner-auth completion bash > ~/.local/share/bash-completion/completions/agent-runner-auth",
    options: [HELP_OPTION],
  },
  {
    name: "move-store",
    takesArguments: true,
    summary: "move the session to another secret store, without a new login",
    usage: "agent-runner-auth move-store <keychain|pass|file> [options]",
    description: "Copies the tokens to the new store, reads them back, switches the profile to it, and only then deletes the old copy.",
    options: [PROFILE_OPTION, VERBOSE_OPTION, HELP_OPTION],
  },
  {
    name: "logout",
    summary: "revoke the session at the IdP and delete the stored tokens",
    usage: "agent-runner-auth logout [options]",
    description: "Revokes the refresh token (which also invalidates its access tokens), then deletes the stored tokens. Offline, it deletes them and warns.",
    options: [PROFILE_OPTION, STORE_OPTION, VERBOSE_OPTION, HELP_OPTION],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

function optionLine(o: OptionSpec): [string, string] {
  const flag = `${o.short ? `-${o.short}, ` : "    "}--${o.name}${o.kind === "flag" ? "" : ` ${o.valueName ?? "VALUE"}`}`;
  return [flag, o.description];
}

export function renderCommandHelp(spec: CommandSpec): string {
  const lines = spec.options.map(optionLine);
  const width = Math.max(...lines.map(([f]) => f.length)) + 2;
  return `Usage: ${spec.usage}\n\n${spec.summary[0]?.toUpperCase()}${spec.summary.slice(1)}.\n\n${spec.description}\n\nOptions:\n${lines
    .map(([f, d]) => `  ${f.padEnd(width)}${d}`)
    .join("\n")}\n`;
}

export { EXIT_CODES };

export function renderMainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `agent-runner-auth: sign in to an agent-runner tenant and hand Claude Code a valid token.

Usage: agent-runner-auth <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Run 'agent-runner-auth <command> --help' for a command's options.
Global options: --help, --version.

Exit codes:
${EXIT_CODES.map(([code, text]) => `  ${String(code).padEnd(5)}${text}`).join("\n")}
`;
}
