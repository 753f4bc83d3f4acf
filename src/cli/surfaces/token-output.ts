/**
 * What `token --format`, `env` and `exec` print or set. No imports: `token --format desktop`
 * renders on the cached path, where every import costs start-up time.
 *
 * Base URLs (decided here, one place):
 *  - Claude Code (`setup claude`), `env` and `exec`: `<tenant>/anthropic/v1`, the seed's base.
 *    Anthropic SDKs and Claude Code append `/v1/messages` (-> /anthropic/v1/v1/messages) and
 *    clients whose default base already ends in /v1 append `/messages` (-> /anthropic/v1/messages);
 *    the proxy serves both, so one value works for either convention.
 *  - Claude Desktop (`inferenceGatewayBaseUrl`): `<tenant>/anthropic`, the RFC 9728 `resource`;
 *    Desktop appends `/v1/messages` and `/v1/models` like the SDKs.
 */

export const TOKEN_FORMATS = ["bare", "desktop", "headers"] as const;
export type TokenFormat = (typeof TOKEN_FORMATS)[number];

export const SHELLS = ["sh", "bash", "zsh", "fish", "powershell"] as const;
export type Shell = (typeof SHELLS)[number];

/** The base for clients of unknown convention (SDKs, tools): see the header comment. */
export function sdkBaseUrl(tenant: string): string {
  return `${tenant.replace(/\/+$/, "")}/anthropic/v1`;
}

/** Claude Desktop's inferenceGatewayBaseUrl. */
export function desktopBaseUrl(tenant: string): string {
  return `${tenant.replace(/\/+$/, "")}/anthropic`;
}

export function parseTokenFormat(value: string | undefined): TokenFormat | null {
  if (value === undefined) return "bare";
  return (TOKEN_FORMATS as readonly string[]).includes(value) ? (value as TokenFormat) : null;
}

/** A JWT is printable ASCII without spaces; anything else must never be printed as a credential. */
function assertToken(token: string): void {
  if (!/^[\x21-\x7e]{1,16384}$/.test(token)) throw new TypeError("refusing to print a token that is not one printable-ASCII word");
}

/**
 * One line for stdout (with its newline):
 *  bare     the token (Claude Code's apiKeyHelper, Desktop's plain form);
 *  desktop  {"token": "...", "headers": {...}} (Desktop's JSON contract; `headers` are extra
 *           request headers, empty unless given: the auth scheme already carries the token);
 *  headers  {"Authorization": "Bearer ..."} (an MCP server's headersHelper).
 */
export function renderToken(format: TokenFormat, token: string, extraHeaders: Readonly<Record<string, string>> = {}): string {
  assertToken(token);
  if (format === "bare") return `${token}\n`;
  if (format === "desktop") return `${JSON.stringify({ token, headers: { ...extraHeaders } })}\n`;
  return `${JSON.stringify({ ...extraHeaders, Authorization: `Bearer ${token}` })}\n`;
}

/** The shell `env` renders for when --shell is not given: $SHELL's name, PowerShell on Windows. */
export function defaultShell(env: Readonly<Record<string, string | undefined>>, platform: string): Shell {
  if (platform === "win32" && !env.SHELL) return "powershell";
  const name = (env.SHELL ?? "").split(/[\\/]/).pop() ?? "";
  if (name === "fish" || name === "zsh" || name === "bash") return name;
  if (name === "pwsh" || name === "powershell") return "powershell";
  return "sh";
}

export function parseShell(value: string): Shell | null {
  if (value === "pwsh") return "powershell";
  return (SHELLS as readonly string[]).includes(value) ? (value as Shell) : null;
}

/** POSIX sh single quotes: nothing is special inside but the quote itself. */
const shWord = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
/** fish single quotes: only \ and ' are special. */
const fishWord = (v: string) => `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
/** PowerShell single quotes: ' doubles; the typographic single quotes count as quotes too. */
const psWord = (v: string) => `'${v.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;

export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Lines to eval that set `set` and remove `unset`, for one shell. Every value is quoted (a token
 * never needs it, a URL might); names are checked. NUL cannot be passed in an environment.
 */
export function renderEnv(shell: Shell, set: Readonly<Record<string, string>>, unset: readonly string[] = []): string {
  const lines: string[] = [];
  for (const name of [...Object.keys(set), ...unset]) if (!NAME_PATTERN.test(name)) throw new TypeError(`not an environment variable name: ${JSON.stringify(name)}`);
  for (const value of Object.values(set)) if (value.includes("\0")) throw new TypeError("an environment value cannot hold NUL");
  for (const name of unset) {
    if (shell === "fish") lines.push(`set -e ${name};`);
    else if (shell === "powershell") lines.push(`Remove-Item -ErrorAction SilentlyContinue Env:${name}`);
    else lines.push(`unset ${name};`);
  }
  for (const [name, value] of Object.entries(set)) {
    if (shell === "fish") lines.push(`set -gx ${name} ${fishWord(value)};`);
    else if (shell === "powershell") lines.push(`$env:${name} = ${psWord(value)}`);
    else lines.push(`export ${name}=${shWord(value)};`);
  }
  return `${lines.join("\n")}\n`;
}

/** The variables `env` and `exec` set, and the one they remove (it would win over the token for x-api-key). */
export function gatewayEnvironment(tenant: string, token: string): { set: Record<string, string>; unset: string[] } {
  assertToken(token);
  return { set: { ANTHROPIC_BASE_URL: sdkBaseUrl(tenant), ANTHROPIC_AUTH_TOKEN: token }, unset: ["ANTHROPIC_API_KEY"] };
}

/** stderr for `env` and `exec`: how long the token lives (nothing refreshes it inside the command). */
export function validityLine(expiresAtMs: number, nowMs: number, command: "env" | "exec"): string {
  const minutes = Math.max(0, Math.floor((expiresAtMs - nowMs) / 60_000));
  const until = new Date(expiresAtMs).toISOString().replace(/\.\d{3}Z$/, "Z");
  const after = command === "env" ? "run `agent-runner-auth env` again after that" : "a command running longer gets 401s after that (exec --keep-fresh refreshes it for every request)";
  return `agent-runner-auth: token valid for ${minutes} min (until ${until}); it is not refreshed, ${after}.`;
}
