/**
 * `setup claude`: points Claude Code at this profile's tenant with this binary as apiKeyHelper.
 * Merges into the settings file (other keys and formatting kept), writes a backup first, writes
 * atomically, changes nothing when nothing changes, refuses a file that is not valid JSON, and
 * never reads or writes through a symlinked settings file or directory.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { ConfigError, usageError } from "../../errors.ts";
import { commandFor } from "../../config.ts";
import { sanitizeForTerminal } from "../../terminal-text.ts";
import { runDesktop, type DesktopFiles, type DesktopOptions } from "./claude-desktop.ts";
import { runMcpServer, type McpFiles } from "./mcp-server.ts";
import { applyManagedSettings, backupPath, CONFLICTING_ENV, helperCommand, helperTtlMs, parseSettings, removeManagedSettings, settingsDir, settingsPath, SettingsParseError, SCOPES, statusLineCommand, tenantBaseUrl, type Scope } from "../../claude/settings.ts";

export interface SetupOptions {
  scope: Scope;
  dryRun: boolean;
  remove: boolean;
  /** `setup claude --mcp-server NAME`: only that server's headersHelper (mcp-server.ts); scope as given. */
  mcpServer?: { name: string; scope: Scope | undefined };
  /** `setup claude --status-line`: also Claude Code's statusLine (`usage --status-line`). */
  statusLine?: boolean;
  /** `setup claude --base-url URL`: the gateway's base URL, for a profile made with --issuer (no tenant URL). */
  baseUrl?: string;
  /** `setup claude-desktop` (claude-desktop.ts). */
  desktop?: DesktopOptions;
}

export function parseOptions(args: ParsedArgs, _env: Env): SetupOptions {
  const [target, ...extra] = args.positionals;
  if ((target !== "claude" && target !== "claude-desktop") || extra.length > 0) throw usageError("usage: agent-runner-auth setup claude [--scope user|project|local] [--dry-run] [--remove] [--mcp-server NAME], or setup claude-desktop [--dry-run] [--remove] [--mdm macos|windows]");
  const scope = (args.values.scope ?? "user") as Scope;
  if (!SCOPES.includes(scope)) throw usageError(`--scope must be user, project or local, got "${scope}"`);
  const base = { scope, dryRun: Boolean(args.flags["dry-run"]), remove: Boolean(args.flags.remove) };
  const mdm = args.values.mdm;
  if (target === "claude-desktop") {
    if (args.values["mcp-server"] !== undefined) throw usageError("--mcp-server goes with setup claude");
    if (mdm !== undefined && mdm !== "macos" && mdm !== "windows") throw usageError(`--mdm must be macos or windows, got "${mdm}"`);
    return { ...base, desktop: { dryRun: base.dryRun, remove: base.remove, mdm, userScope: args.values.scope === "user" } };
  }
  if (mdm !== undefined) throw usageError("--mdm goes with setup claude-desktop");
  const mcpServer = args.values["mcp-server"];
  if (mcpServer !== undefined && mcpServer.trim() === "") throw usageError("--mcp-server needs a server name");
  if (args.flags["status-line"] && mcpServer !== undefined) throw usageError("--status-line and --mcp-server are separate runs of setup claude");
  const baseUrl = args.values["base-url"];
  if (baseUrl !== undefined && mcpServer !== undefined) throw usageError("--base-url and --mcp-server are separate runs of setup claude");
  return {
    ...base,
    ...(mcpServer !== undefined ? { mcpServer: { name: mcpServer, scope: args.values.scope as Scope | undefined } } : {}),
    ...(args.flags["status-line"] ? { statusLine: true } : {}),
    ...(baseUrl !== undefined ? { baseUrl } : {}),
  };
}

/**
 * The ANTHROPIC_BASE_URL to write: `--base-url` when given (a profile made with --issuer has no
 * tenant URL to derive it from), else the tenant's `/anthropic/v1`. Under the endpoint policy.
 */
async function gatewayBaseUrl(ctx: CommandContext, tenant: string | undefined, given: string | undefined): Promise<string> {
  if (given === undefined) {
    if (tenant) return tenantBaseUrl(tenant);
    throw new ConfigError(
      `profile "${ctx.profileName}" has no tenant URL (it was set up with --issuer), so the gateway's address is not known`,
      `Give it: ${commandFor("setup claude", ctx.profileName)} --base-url https://<slug>.proxy.<domain>/anthropic/v1`,
    );
  }
  const { checkTenantUrl, EndpointPolicyError } = await import("../../../shared/endpoint-policy.ts");
  try {
    return checkTenantUrl("--base-url", given).href.replace(/\/+$/, "");
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw usageError(sanitizeForTerminal(e.message), "Give the gateway's https:// address, for example https://acme.proxy.example.com/anthropic/v1");
    throw e;
  }
}

/**
 * Reads the settings file, refusing a symlinked file or directory: a cloned repository could point
 * .claude/settings.json at a secret, which would then be merged and written into the repository.
 */
async function readSettings(dir: string, path: string): Promise<{ text: string; mode: number } | null> {
  const { readRegularFile, refuseSymlink, UnsafePathError } = await import("../../fs-atomic.ts");
  try {
    refuseSymlink(dir);
    return readRegularFile(path);
  } catch (e) {
    if (e instanceof UnsafePathError) {
      throw new ConfigError(
        e.code === "symlink"
          ? `refusing to use ${e.path}: it is a symbolic link, and setup never reads or writes through one (a link in a cloned repository could point at a secret); nothing was changed`
          : `refusing to use ${e.path}: it is not a regular file; nothing was changed`,
        "Replace it with a regular file or directory (or edit the file it points to yourself), then run this again.",
        { cause: e },
      );
    }
    throw new ConfigError(`cannot read ${path}: ${(e as Error).message}`, undefined, { cause: e });
  }
}

/** The file-system side of the Desktop and MCP parts (real adaptors by default; fakes in tests). */
export interface SetupPorts {
  desktop?: DesktopFiles;
  mcp?: McpFiles;
  exists?: (path: string) => boolean;
  platform?: NodeJS.Platform;
}

export async function run(ctx: CommandContext, options: SetupOptions, ports: SetupPorts = {}): Promise<number> {
  const platform = ports.platform ?? process.platform;
  if (options.desktop) return runDesktop(ctx, options.desktop, ports.desktop ?? (await import("./desktop-files.ts")).nodeDesktopFiles, platform);
  if (options.mcpServer !== undefined) {
    const exists = ports.exists ?? (await import("../../surfaces/ports.ts")).nodeExists;
    const { name, scope } = options.mcpServer;
    return runMcpServer(ctx, { server: name, scope, dryRun: options.dryRun, remove: options.remove }, ports.mcp ?? (await import("./desktop-files.ts")).nodeMcpFiles, exists, platform);
  }
  const { scope } = options;
  const path = settingsPath(scope, ctx.env, ctx.cwd);
  const current = await readSettings(settingsDir(scope, ctx.env, ctx.cwd), path);
  const before = current?.text ?? "";

  let after: string;
  try {
    if (options.remove) {
      after = removeManagedSettings(before);
    } else {
      const profile = await ctx.profiles.require(ctx.profileName);
      // Claude Code would send every token to this URL: never plain http off this machine.
      const { checkProfile } = await import("../../oauth/client.ts");
      checkProfile(profile, `profile "${ctx.profileName}"`);
      after = applyManagedSettings(before, {
        baseUrl: await gatewayBaseUrl(ctx, profile.tenant, options.baseUrl),
        ttlMs: helperTtlMs(profile.accessTokenLifetimeSeconds),
        helper: helperCommand(ctx.self(), ctx.profileName),
        ...(options.statusLine ? { statusLine: statusLineCommand(ctx.self(), ctx.profileName) } : {}),
      });
    }
  } catch (e) {
    if (e instanceof SettingsParseError) {
      throw new ConfigError(`${path} is not valid JSON (${e.message}); it was left untouched`, "Fix the file (or move it away), then run this again.", { cause: e });
    }
    throw e;
  }

  for (const name of CONFLICTING_ENV) {
    if (ctx.env[name]) ctx.say(`agent-runner-auth: warning: ${name} is set in your environment and overrides the apiKeyHelper in Claude Code. Run: unset ${name} (and remove it from your shell profile).`);
  }
  const settings = parseSettings(after);
  const settingsEnv = (settings.env ?? {}) as Record<string, unknown>;
  for (const name of CONFLICTING_ENV) {
    if (settingsEnv[name] !== undefined) ctx.say(`agent-runner-auth: warning: ${path} sets env.${name}, which overrides the apiKeyHelper. Remove it from the file.`);
  }

  if (after === before) {
    ctx.say(`${path} is already up to date.`);
    return 0;
  }
  if (options.dryRun) {
    const { createTwoFilesPatch } = await import("diff");
    ctx.stdout(createTwoFilesPatch(path, path, before, after, "current", "after setup"));
    return 0;
  }
  const { writeFileAtomic } = await import("../../fs-atomic.ts");
  // The backup and the new file keep the original's mode exactly (a new file is private).
  const mode = current?.mode ?? 0o600;
  try {
    // Written like the file itself (temporary file + rename): a symlink planted at the backup's
    // name is replaced, never written through.
    if (before !== "") writeFileAtomic(backupPath(path), before, { mode, dirMode: 0o755 });
    writeFileAtomic(path, after, { mode, dirMode: 0o755 });
  } catch (e) {
    throw new ConfigError(`cannot write ${path}: ${(e as Error).message}`, undefined, { cause: e });
  }
  ctx.say(options.remove ? `Removed the agent-runner settings from ${path}.` : `Claude Code (${scope} settings, ${path}) now uses profile "${ctx.profileName}".`);
  if (before !== "") ctx.say(`The previous version is in ${backupPath(path)}.`);
  return 0;
}
