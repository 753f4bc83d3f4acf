/**
 * Every command's usage and options, as data: `--help`, the argument parser and the man page
 * are all rendered from this table, so they cannot disagree.
 */
import type { OptionSpec } from "../args.ts";
import { EXIT_CODES } from "../errors.ts";
import { GATEWAY_COMMANDS } from "../gateway/command-specs.ts";
import { POLICY_COMMANDS } from "../policy/command-specs.ts";

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
export const CA_FILE_OPTION: OptionSpec = {
  name: "ca-file",
  kind: "value",
  valueName: "PATH",
  description: "also trust the CA certificates in this PEM file, for every request (a TLS-inspecting proxy; default: $AGENT_RUNNER_AUTH_CA_FILE, else the one given at login)",
};
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
      { name: "identity-provider", kind: "value", valueName: "NAME", description: "go straight to this IdP federated into the pool (Cognito identity_provider; saved in the profile)" },
      { name: "idp-identifier", kind: "value", valueName: "ID", description: "pick the federated IdP by an identifier such as an email domain (Cognito idp_identifier; saved)" },
      { name: "login-hint", kind: "value", valueName: "USER", description: "pre-fill the user name on the sign-in page (saved)" },
      { name: "switch-user", kind: "flag", description: "show the sign-in form even if the browser is still signed in as someone (prompt=login)" },
      CA_FILE_OPTION,
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
      { name: "format", kind: "value", valueName: "bare|desktop|headers", description: "bare token (default), Claude Desktop's {\"token\", \"headers\"} JSON, or an MCP headersHelper's {\"Authorization\": \"Bearer ...\"}" },
      CA_FILE_OPTION,
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
  },
  {
    name: "status",
    summary: "show the tenant, user and token expiry",
    usage: "agent-runner-auth status [options]",
    description: "Exits 0 when a usable session exists, 1 otherwise. Human output goes to stderr; --json prints a JSON object on stdout.",
    options: [PROFILE_OPTION, STORE_OPTION, { name: "json", kind: "flag", description: "print JSON on stdout" }, CA_FILE_OPTION, VERBOSE_OPTION, HELP_OPTION],
  },
  {
    name: "setup",
    takesArguments: true,
    summary: "configure Claude Code to use this tenant and this binary as its apiKeyHelper",
    usage: "agent-runner-auth setup claude|claude-desktop [options]",
    description:
      "Writes env.ANTHROPIC_BASE_URL (<tenant>/anthropic/v1), env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS (just under the access token's lifetime) and apiKeyHelper (this binary's absolute path and `token`) into Claude Code's settings. Other keys and the file's formatting are kept, a backup is written first (<file>.agent-runner-auth.bak), and running it twice changes nothing. A settings file that is not valid JSON is left untouched. 'setup claude --mcp-server NAME' instead adds a headersHelper (`token --format headers`) to that http/sse MCP server in .mcp.json (--scope project; the default when ./.mcp.json exists) or ~/.claude.json (--scope user). 'setup claude-desktop' writes Claude Desktop's configuration library entry (macOS, Windows) and its helper alias; --mdm macos|windows prints the administrator's .mobileconfig or .reg instead (no secret in it).",
    options: [
      PROFILE_OPTION,
      { name: "scope", kind: "value", valueName: "user|project|local", description: "~/.claude/settings.json (default), .claude/settings.json or .claude/settings.local.json" },
      { name: "dry-run", kind: "flag", description: "print the change as a diff on stdout, write nothing" },
      { name: "remove", kind: "flag", description: "take the agent-runner settings out again" },
      { name: "mcp-server", kind: "value", valueName: "NAME", description: "setup claude: add (or with --remove, remove) the headersHelper on this MCP server instead" },
      { name: "base-url", kind: "value", valueName: "URL", description: "setup claude: the gateway's base URL (https://<slug>.proxy.<domain>/anthropic/v1), for a profile signed in with --issuer" },
      { name: "status-line", kind: "flag", description: "setup claude: also show your gateway usage in Claude Code's status line (statusLine: usage --status-line); --remove takes it out if it is ours" },
      { name: "mdm", kind: "value", valueName: "macos|windows", description: "setup claude-desktop: print the admin's .mobileconfig or .reg on stdout, write nothing" },
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
  },
  {
    name: "doctor",
    summary: "check the whole chain (store, session, IdP, proxy, Claude Code settings) and explain fixes",
    usage: "agent-runner-auth doctor [options]",
    description: "Each check prints a verdict and, when it fails, the fix. Never opens a browser and spends no model tokens. Exits 0 only when no check fails.",
    options: [
      PROFILE_OPTION,
      { name: "json", kind: "flag", description: "print {ok, profile, checks: [{name, verdict, detail, fix}]} on stdout" },
      { name: "deep", kind: "flag", description: "also send a one-token streamed request (spends one output token) and check it arrives in pieces" },
      CA_FILE_OPTION,
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
  },
  {
    name: "exec",
    takesArguments: true,
    summary: "run a command with ANTHROPIC_BASE_URL and a fresh ANTHROPIC_AUTH_TOKEN",
    usage: "agent-runner-auth exec [options] -- CMD [ARGS...]",
    description:
      "Gets a token like 'token' does, then runs CMD with ANTHROPIC_BASE_URL (<tenant>/anthropic/v1) and ANTHROPIC_AUTH_TOKEN set and ANTHROPIC_API_KEY removed, stdio inherited. Prints nothing on stdout itself; stderr says how long the token lives (it is not refreshed inside CMD, unless --keep-fresh). Exits with CMD's status, 128+N when signal N ended it, 127 when CMD is not found, 126 when it cannot run. SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are forwarded to CMD.",
    options: [
      PROFILE_OPTION,
      STORE_OPTION,
      { name: "keep-fresh", kind: "flag", description: "for jobs that outlive a token: CMD talks to a local forwarder (127.0.0.1, this user only, a per-run secret as its token) that sends each request on with a fresh token" },
      CA_FILE_OPTION,
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
  },
  {
    name: "env",
    summary: "print ANTHROPIC_BASE_URL and a fresh ANTHROPIC_AUTH_TOKEN as lines to eval",
    usage: "agent-runner-auth env [options]",
    description:
      "The variables 'exec' sets, for a shell: eval \"$(agent-runner-auth env)\", agent-runner-auth env --shell fish | source, agent-runner-auth env --shell powershell | Invoke-Expression. Every value is quoted for that shell; ANTHROPIC_API_KEY is unset. stderr says how long the token lives.",
    options: [
      PROFILE_OPTION,
      STORE_OPTION,
      { name: "shell", kind: "value", valueName: "sh|bash|zsh|fish|powershell", description: "the shell's syntax (default: from $SHELL; PowerShell on Windows)" },
      CA_FILE_OPTION,
      VERBOSE_OPTION,
      HELP_OPTION,
    ],
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
    summary: "end the session at the tenant's gateway and the IdP, and delete the stored tokens",
    usage: "agent-runner-auth logout [options]",
    description: "Presents the stored access token to the tenant gateway's logout endpoint, which refuses every access token of this sign-in on all replicas within about a second (a copied token included), then revokes the refresh token at the IdP, then deletes the stored tokens. If the gateway or the IdP cannot be reached, it warns (saying until when a copied access token still works) and deletes the tokens anyway.",
    options: [PROFILE_OPTION, STORE_OPTION, CA_FILE_OPTION, VERBOSE_OPTION, HELP_OPTION],
  },
  // `admin …` and `usage` (issue 13): their tables live beside their use cases
  ...GATEWAY_COMMANDS.map(({ path: _path, ...spec }): CommandSpec => ({ ...spec, options: [...spec.options, PROFILE_OPTION, STORE_OPTION, CA_FILE_OPTION, VERBOSE_OPTION, HELP_OPTION] })),
  // `admin policy check` (issue 18): offline, so no profile, store or CA options
  ...POLICY_COMMANDS.map((spec): CommandSpec => ({ ...spec, options: [...spec.options, VERBOSE_OPTION, HELP_OPTION] })),
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** A word that only groups commands (`admin`, `admin budget`): its --help lists them. */
export interface CommandGroup {
  name: string;
  summary: string;
  description: string;
}

export const COMMAND_GROUPS: CommandGroup[] = [
  {
    name: "admin",
    summary: "administer the tenant's gateway: usage report, budgets, rate limits, revocations, policy",
    description: "For members of the tenant's admin group (your own sign-in is enough) or automation with --admin-key-file.",
  },
  { name: "admin budget", summary: "set, clear or list budgets", description: "Daily or monthly, in USD or tokens, per person, group or the whole tenant." },
  { name: "admin limit", summary: "set, clear or list rate limits", description: "Requests and tokens per minute, per person, group or the whole tenant." },
  { name: "admin policy", summary: "check a tenant policy file (groups to models, budgets and limits)", description: "The policy is a file the organisation reviews like code (docs/policy.md)." },
];

/**
 * The command (or group) named by the first words of argv: the longest name that matches, so
 * `admin budget set --user x` is the command "admin budget set" with ["--user", "x"] left.
 */
export function resolveCommand(argv: string[]): { spec: CommandSpec; rest: string[] } | { group: CommandGroup; rest: string[] } | undefined {
  for (let n = Math.min(argv.length, 3); n >= 1; n--) {
    const name = argv.slice(0, n).join(" ");
    const spec = findCommand(name);
    if (spec) return { spec, rest: argv.slice(n) };
    const group = COMMAND_GROUPS.find((g) => g.name === name);
    if (group) return { group, rest: argv.slice(n) };
  }
  return undefined;
}

/** The commands directly under a group: "admin usage", and "admin budget" (a group) once. */
export function groupMembers(group: string): { name: string; summary: string }[] {
  const prefix = `${group} `;
  const seen = new Set<string>();
  const members: { name: string; summary: string }[] = [];
  for (const c of COMMANDS) {
    if (!c.name.startsWith(prefix)) continue;
    const next = c.name.slice(prefix.length).split(" ")[0]!;
    const child = COMMAND_GROUPS.find((g) => g.name === `${prefix}${next}`);
    if (seen.has(next)) continue;
    seen.add(next);
    members.push(child ? { name: child.name, summary: child.summary } : { name: c.name, summary: c.summary });
  }
  return members;
}

export function renderGroupHelp(group: CommandGroup): string {
  const members = groupMembers(group.name);
  const width = Math.max(...members.map((m) => m.name.length)) + 2;
  return `Usage: agent-runner-auth ${group.name} <command> [options]

${group.summary[0]?.toUpperCase()}${group.summary.slice(1)}. ${group.description}

Commands:
${members.map((m) => `  ${m.name.padEnd(width)}${m.summary}`).join("\n")}

Run 'agent-runner-auth ${group.name} <command> --help' for a command's options.
`;
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
  const topLevel = [...COMMANDS.filter((c) => !c.name.includes(" ")), ...COMMAND_GROUPS.filter((g) => !g.name.includes(" ")).map((g) => ({ name: `${g.name} <command>`, summary: g.summary }))];
  const width = Math.max(...topLevel.map((c) => c.name.length)) + 2;
  return `agent-runner-auth: sign in to an agent-runner tenant and hand Claude Code a valid token.

Usage: agent-runner-auth <command> [options]

Commands:
${topLevel.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Run 'agent-runner-auth <command> --help' for a command's options.
Global options: --help, --version.

Exit codes:
${EXIT_CODES.map(([code, text]) => `  ${String(code).padEnd(5)}${text}`).join("\n")}
`;
}
