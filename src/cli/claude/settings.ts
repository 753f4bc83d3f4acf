/**
 * Claude Code's settings files and the keys this CLI manages in them:
 *   env.ANTHROPIC_BASE_URL, env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS, apiKeyHelper, and on request
 *   statusLine (`usage --status-line`).
 * Edits go through jsonc-parser, which changes only those members and keeps every other key and
 * the file's formatting as it was. Pure functions over text; the command does the file I/O.
 */
import { applyEdits, modify, parse, printParseErrorCode, type ParseError } from "jsonc-parser";
import { joinPath } from "../paths.ts";

export const SCOPES = ["user", "project", "local"] as const;

/** Environment variables that override an apiKeyHelper in Claude Code (setup warns, doctor fails). */
export const CONFLICTING_ENV = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"] as const;

/** Claude Code's ANTHROPIC_BASE_URL for a tenant. */
export function tenantBaseUrl(tenant: string): string {
  return `${tenant.replace(/\/+$/, "")}/anthropic/v1`;
}
export type Scope = (typeof SCOPES)[number];

/**
 * The directory of a scope's settings (Claude Code honours CLAUDE_CONFIG_DIR for the user scope),
 * without trailing separators: a trailing slash would make lstat follow a symlinked directory.
 */
export function settingsDir(scope: Scope, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  const dir = scope === "user" ? env.CLAUDE_CONFIG_DIR || joinPath(env.HOME || env.USERPROFILE || "", ".claude") : joinPath(cwd, ".claude");
  return dir.replace(/(?<=.)[\\/]+$/, "");
}

/** Where each scope's settings live. */
export function settingsPath(scope: Scope, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  return joinPath(settingsDir(scope, env, cwd), scope === "local" ? "settings.local.json" : "settings.json");
}

/** The backup `setup claude` writes before it changes a settings file. */
export const backupPath = (path: string): string => `${path}.agent-runner-auth.bak`;

export interface ManagedSettings {
  baseUrl: string;
  ttlMs: number;
  helper: string;
  /** `setup claude --status-line`: the command of Claude Code's statusLine (statusLineCommand). */
  statusLine?: string;
}

export class SettingsParseError extends Error {}

/** Parses settings text strictly enough to refuse what Claude Code would refuse. */
export function parseSettings(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: false, disallowComments: true });
  if (errors.length > 0) {
    const first = errors[0]!;
    const line = text.slice(0, first.offset).split("\n").length;
    throw new SettingsParseError(`${printParseErrorCode(first.error)} at line ${line}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SettingsParseError("the top level is not a JSON object");
  return value as Record<string, unknown>;
}

function detectIndent(text: string): { insertSpaces: boolean; tabSize: number } {
  const match = /^([ \t]+)\S/m.exec(text);
  if (match?.[1]?.startsWith("\t")) return { insertSpaces: false, tabSize: 1 };
  return { insertSpaces: true, tabSize: match?.[1]?.length ?? 2 };
}

/**
 * One member set or removed. New members go first in their object: jsonc-parser reformats the
 * preceding sibling when it appends, and the user's formatting is theirs to keep.
 */
function edit(text: string, path: (string | number)[], value: unknown): string {
  const formattingOptions = { ...detectIndent(text), eol: text.includes("\r\n") ? "\r\n" : "\n" };
  return applyEdits(text, modify(text, path, value, { formattingOptions, getInsertionIndex: () => 0 }));
}

/** Sets our keys, leaving everything else as it was. Running it twice changes nothing. */
export function applyManagedSettings(text: string, settings: ManagedSettings): string {
  const current = parseSettings(text);
  let next = text.trim() === "" ? "{}\n" : text;
  const env = (current.env ?? {}) as Record<string, unknown>;
  if (env.ANTHROPIC_BASE_URL !== settings.baseUrl) next = edit(next, ["env", "ANTHROPIC_BASE_URL"], settings.baseUrl);
  if (env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS !== String(settings.ttlMs)) next = edit(next, ["env", "CLAUDE_CODE_API_KEY_HELPER_TTL_MS"], String(settings.ttlMs));
  if (current.apiKeyHelper !== settings.helper) next = edit(next, ["apiKeyHelper"], settings.helper);
  if (settings.statusLine !== undefined) {
    const line = current.statusLine as { type?: unknown; command?: unknown } | undefined;
    if (line?.type !== "command" || line.command !== settings.statusLine || Object.keys(line).length !== 2) next = edit(next, ["statusLine"], { type: "command", command: settings.statusLine });
  }
  return next;
}

/** Whether an apiKeyHelper value is ours (this CLI's `token` command). */
export function isOurHelper(helper: unknown): boolean {
  return typeof helper === "string" && /agent-runner-auth(\.exe)?["']?\s+token\b/.test(helper);
}

/** Whether a statusLine value is ours (this CLI's `usage --status-line`). */
export function isOurStatusLine(value: unknown): boolean {
  const line = value as { type?: unknown; command?: unknown } | null | undefined;
  return line?.type === "command" && typeof line.command === "string" && /agent-runner-auth(\.exe)?["']?\s+usage\s+--status-line\b/.test(line.command);
}

/** Takes our keys out again (only if they are ours); an env object we leave empty goes too. */
export function removeManagedSettings(text: string): string {
  const current = parseSettings(text);
  let next = text;
  const env = current.env as Record<string, unknown> | undefined;
  if (isOurStatusLine(current.statusLine)) next = edit(next, ["statusLine"], undefined);
  if (isOurHelper(current.apiKeyHelper)) {
    next = edit(next, ["apiKeyHelper"], undefined);
    for (const key of ["ANTHROPIC_BASE_URL", "CLAUDE_CODE_API_KEY_HELPER_TTL_MS"]) {
      if (env && key in env) next = edit(next, ["env", key], undefined);
    }
    const after = parseSettings(next).env;
    if (after && typeof after === "object" && Object.keys(after).length === 0) next = edit(next, ["env"], undefined);
  }
  return next;
}

/** Quotes a word for POSIX /bin/sh (Claude Code runs apiKeyHelper through `sh -c`). */
export function shQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Quotes a word for Windows cmd.exe (Claude Code runs apiKeyHelper through cmd there). */
export function cmdQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./\\-]+$/.test(word) ? word : `"${word.replaceAll('"', '""')}"`;
}

/** The helper command: this binary's absolute path (no `~`, which Windows does not expand), `token`, the profile. */
export function helperCommand(commandWords: string[], profile: string, platform = process.platform): string {
  const quote = platform === "win32" ? cmdQuote : shQuote;
  return [...commandWords.map(quote), "token", ...(profile === "default" ? [] : ["--profile", quote(profile)])].join(" ");
}

/** The statusLine command: this binary's absolute path, `usage --status-line`, the profile. */
export function statusLineCommand(commandWords: string[], profile: string, platform = process.platform): string {
  const quote = platform === "win32" ? cmdQuote : shQuote;
  return [...commandWords.map(quote), "usage", "--status-line", ...(profile === "default" ? [] : ["--profile", quote(profile)])].join(" ");
}

/** Claude Code's helper TTL: just under the access token's lifetime (the seed: 55 min for 1 h). */
export function helperTtlMs(accessTokenLifetimeSeconds: number | undefined): number {
  const lifetimeMs = (accessTokenLifetimeSeconds ?? 3600) * 1000;
  return Math.max(1000, Math.round(lifetimeMs - Math.min(5 * 60_000, lifetimeMs / 4)));
}
