/**
 * `setup claude --mcp-server NAME [--remove]`: our headersHelper (`token --format headers`) on one
 * http/sse MCP server entry (surfaces/mcp-headers-helper.ts), in the project's `.mcp.json`
 * (--scope project; the default when ./.mcp.json exists) or ~/.claude.json (--scope user, Claude
 * Code's user-scope servers). Backup first, atomic write, diff with --dry-run.
 */
import type { CommandContext } from "../../context.ts";
import { ConfigError, usageError } from "../../errors.ts";
import { backupPath } from "../../claude/settings.ts";
import { joinPath } from "../../paths.ts";

export interface McpOptions {
  server: string;
  scope: "user" | "project" | "local" | undefined;
  dryRun: boolean;
  remove: boolean;
}

export interface McpFiles {
  /** The file's text and mode; null when it does not exist. Refuses a symlink in the project. */
  read(path: string, trusted: boolean): { text: string; mode: number } | null;
  write(path: string, text: string, mode: number): void;
}

export function mcpConfigPath(ctx: Pick<CommandContext, "env" | "cwd">, scope: McpOptions["scope"], exists: (path: string) => boolean): { path: string; trusted: boolean } {
  if (scope === "local") throw usageError("--mcp-server works with --scope project (.mcp.json) or user (~/.claude.json)", "Local-scope MCP servers live inside ~/.claude.json per project: use --scope user or project.");
  const project = joinPath(ctx.cwd, ".mcp.json");
  if (scope === "project" || (scope === undefined && exists(project))) return { path: project, trusted: false };
  return { path: joinPath(ctx.env.HOME || ctx.env.USERPROFILE || "", ".claude.json"), trusted: true };
}

export async function runMcpServer(ctx: CommandContext, options: McpOptions, files: McpFiles, exists: (path: string) => boolean, platform: string): Promise<number> {
  const { path, trusted } = mcpConfigPath(ctx, options.scope, exists);
  const current = files.read(path, trusted);
  if (current === null) throw new ConfigError(`${path} does not exist, so it has no MCP server ${JSON.stringify(options.server)}`, "Add the server first (claude mcp add --transport http NAME URL), then run this again.");
  const { addHeadersHelper, headersHelperCommand, removeHeadersHelper } = await import("../../surfaces/mcp-headers-helper.ts");
  if (!options.remove) await ctx.profiles.require(ctx.profileName); // a helper for a profile that does not exist would only fail later
  const after = options.remove ? removeHeadersHelper(current.text, path, options.server) : addHeadersHelper(current.text, path, options.server, headersHelperCommand(ctx.self(), ctx.profileName, platform));
  if (after === current.text) {
    ctx.say(`${path}: MCP server ${JSON.stringify(options.server)} is already up to date.`);
    return 0;
  }
  if (options.dryRun) {
    const { createTwoFilesPatch } = await import("diff");
    ctx.stdout(createTwoFilesPatch(path, path, current.text, after, "current", "after setup"));
    return 0;
  }
  try {
    files.write(backupPath(path), current.text, current.mode);
    files.write(path, after, current.mode);
  } catch (e) {
    throw new ConfigError(`cannot write ${path}: ${(e as Error).message}`, undefined, { cause: e });
  }
  ctx.say(options.remove ? `Removed the headersHelper from MCP server ${JSON.stringify(options.server)} in ${path}.` : `MCP server ${JSON.stringify(options.server)} in ${path} now gets its Authorization header from profile "${ctx.profileName}".`);
  ctx.say(`The previous version is in ${backupPath(path)}.`);
  return 0;
}
