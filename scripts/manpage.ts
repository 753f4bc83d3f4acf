/**
 * The man page, agent-runner-auth(1), rendered from the same option tables as `--help`
 * (src/cli/commands/registry.ts), so the two never disagree.
 */
import { COMMANDS, EXIT_CODES, renderMainHelp } from "../src/cli/commands/registry.ts";
import { VERSION } from "../src/cli/version.ts";

/** Escapes text for roff: backslashes, leading dots and quotes, hyphens in options. */
function roff(text: string): string {
  return text.replaceAll("\\", "\\e").replaceAll("-", "\\-").replace(/^([.'])/gm, "\\&$1");
}

export function renderManPage(date = new Date().toISOString().slice(0, 10)): string {
  const lines = [
    `.TH AGENT\\-RUNNER\\-AUTH 1 "${date}" "agent-runner-auth ${VERSION}" "User Commands"`,
    ".SH NAME",
    "agent\\-runner\\-auth \\- sign in to an agent\\-runner tenant and hand Claude Code a valid token",
    ".SH SYNOPSIS",
    ".B agent\\-runner\\-auth",
    ".I command",
    "[\\fIoptions\\fR]",
    ".SH DESCRIPTION",
    roff(renderMainHelp().split("\n")[0]!),
    "Tokens are kept in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows), in \\fBpass\\fR, or, by explicit choice, in plaintext files.",
    ".SH COMMANDS",
  ];
  for (const command of COMMANDS) {
    lines.push(".SS " + roff(command.usage.replace(/^agent-runner-auth /, "")), roff(command.summary[0]!.toUpperCase() + command.summary.slice(1)) + ".", ".PP", roff(command.description));
    for (const option of command.options) {
      lines.push(".TP", `.B ${option.short ? `\\-${option.short}, ` : ""}\\-\\-${roff(option.name)}${option.kind === "flag" ? "" : ` \\fI${roff(option.valueName ?? "VALUE")}\\fR`}`, roff(option.description));
    }
  }
  lines.push(".SH EXIT STATUS");
  for (const [code, text] of EXIT_CODES) lines.push(".TP", `.B ${code}`, roff(text));
  lines.push(
    ".SH ENVIRONMENT",
    ".TP",
    ".B AGENT_RUNNER_PROFILE",
    "Default profile.",
    ".TP",
    ".B AGENT_RUNNER_AUTH_STORE",
    "Secret store for new profiles: keychain, pass or file.",
    ".TP",
    ".B CLAUDE_CODE_API_KEY_HELPER_TTL_MS",
    "Set by Claude Code: tokens are served only if valid for this TTL plus 2 minutes.",
    ".TP",
    ".B CI",
    "Never open a browser.",
    ".TP",
    ".B BROWSER",
    "Command that opens the sign\\-in URL.",
    ".TP",
    ".B HTTPS_PROXY, NO_PROXY, NODE_EXTRA_CA_CERTS, SSL_CERT_FILE",
    "Proxy and trusted certificates for every request.",
    ...[
      ["AGENT_RUNNER_TENANT", "The tenant URL for a bare login when the profile has none saved."],
      ["AGENT_RUNNER_AUTH_SYSTEM_CONFIG", "Path of the system configuration instead of the platform's."],
      ["AGENT_RUNNER_AUTH_CA_FILE", "Same as --ca-file (which wins over it)."],
      ["AGENT_RUNNER_AUTH_HTTP_TIMEOUT_MS", "Bound on one request to the IdP (default 15000)."],
      ["AGENT_RUNNER_LOCK_TIMEOUT_MS", "How long to wait for another process's refresh or sign-in of the same profile (default 360000)."],
      ["AGENT_RUNNER_AUTH_DESKTOP_PLATFORM", "Test hook: setup claude-desktop configures as on darwin or win32, under $HOME."],
      ["CLAUDE_HELPER_CONTEXT", "Set by Claude Desktop: only interactive may open a browser; the other contexts answer from the store or a silent refresh within 15 or 50 seconds, or exit 1."],
      ["CLAUDE_CONFIG_DIR", "Claude Code's user settings directory (default ~/.claude)."],
      ["SSH_CONNECTION, DISPLAY, WAYLAND_DISPLAY", "Without a browser here (an SSH session, a container, no display), login prints the address, the callback port to forward, and accepts the pasted address."],
    ].flatMap(([name, text]) => [".TP", `.B ${roff(name!)}`, roff(text!)]),
    ".PP",
    "The full table: docs/cli.md, Environment.",
    ".SH FILES",
    ".TP",
    ".I $XDG_CONFIG_HOME/agent\\-runner\\-auth/profiles/NAME.json",
    "Profile: tenant, issuer, client, endpoints, store.",
    ".TP",
    ".I $XDG_STATE_HOME/agent\\-runner\\-auth/locks/NAME.lock",
    "Lock that makes refresh and login single\\-flight.",
    ".TP",
    ".I $XDG_STATE_HOME/agent\\-runner\\-auth/status\\-line/NAME.json",
    "Cache of \\fBusage \\-\\-status\\-line\\fR (private, refreshed at most once a minute).",
    ".TP",
    ".I /etc/agent\\-runner\\-auth/config.json",
    "System configuration for a bare \\fBlogin\\fR: {\"tenant\": URL} and optionally profile, identityProvider, idpIdentifier, loginHint (macOS: /Library/Application Support/agent\\-runner\\-auth/config.json; Windows: %ProgramData%\\eagent\\-runner\\-auth\\econfig.json). An empty example: /usr/share/doc/agent\\-runner\\-auth/examples/config.json.",
    ".TP",
    ".I .agent\\-runner\\-auth",
    "In a repository: {\"profile\": NAME} selects the profile for commands run under it (nearest one up to the repository root).",
    ".SH SEE ALSO",
    "\\fBclaude\\fR(1), \\fBpass\\fR(1), \\fBsecret\\-tool\\fR(1)",
    "",
  );
  return lines.join("\n");
}

if (import.meta.main) process.stdout.write(renderManPage());
