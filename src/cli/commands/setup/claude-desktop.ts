/**
 * `setup claude-desktop [--dry-run] [--remove] [--mdm macos|windows]`: Claude Desktop's config
 * library entry, `_meta.json` and the helper alias (surfaces/desktop-config.ts plans, this file
 * reads, shows and writes), or the administrator's form on stdout (surfaces/desktop-mdm.ts).
 *
 * Test hook: AGENT_RUNNER_AUTH_DESKTOP_PLATFORM (surfaces/desktop-place.ts).
 */
import type { CommandContext } from "../../context.ts";
import { ConfigError } from "../../errors.ts";
import type { Profile } from "../../config.ts";
import { backupPath } from "../../claude/settings.ts";
import type { Platform } from "../../surfaces/ports.ts";
import { planDesktopConfig, planDesktopRemoval, type FileChange, type HelperAliasPlan } from "../../surfaces/desktop-config.ts";
import { desktopPlace, desktopSettings, type DesktopPlaceFiles } from "../../surfaces/desktop-place.ts";

export type MdmTarget = "macos" | "windows";

export interface DesktopOptions {
  dryRun: boolean;
  remove: boolean;
  mdm: MdmTarget | undefined;
  /** --scope user with --mdm windows: HKCU instead of HKLM. */
  userScope: boolean;
}

/** The side effects of this command: the file system (real: desktop-files.ts; fakes in tests). */
export interface DesktopFiles extends DesktopPlaceFiles {
  write(path: string, text: string, mode: number): void;
  remove(path: string): void;
  /** Makes `plan.path` an alias of `plan.target` (replacing our old one). */
  link(plan: HelperAliasPlan): void;
  /** Whether `plan.path` already is that alias. */
  isLinked(plan: HelperAliasPlan): boolean;
  newId(): string;
}

async function tenantProfile(ctx: CommandContext): Promise<Profile> {
  const profile = await ctx.profiles.require(ctx.profileName);
  if (!profile.tenant) throw new ConfigError(`profile "${ctx.profileName}" has no tenant URL (it was set up with --issuer)`, "Log in with the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>");
  const { checkProfile } = await import("../../oauth/client.ts");
  checkProfile(profile, `profile "${ctx.profileName}"`);
  return profile;
}

export async function runDesktop(ctx: CommandContext, options: DesktopOptions, files: DesktopFiles, actual: Platform): Promise<number> {
  if (options.mdm) {
    const profile = await tenantProfile(ctx);
    const { DEFAULT_MDM_HELPER, renderMobileconfig, renderRegFile } = await import("../../surfaces/desktop-mdm.ts");
    const settings = desktopSettings(profile, DEFAULT_MDM_HELPER[options.mdm]);
    ctx.stdout(options.mdm === "macos" ? renderMobileconfig({ ...settings, uuids: [files.newId(), files.newId()] }) : renderRegFile({ ...settings, scope: options.userScope ? "user" : "machine" }));
    ctx.say(`agent-runner-auth: the helper path in it is ${settings.helperPath}: install the package (which puts the alias there) on every machine.`);
    return 0;
  }
  const place = desktopPlace(ctx, files, actual, ctx.profileName);
  const plan = options.remove ? planDesktopRemoval(place.library, ctx.profileName) : planDesktopConfig(place.library, ctx.profileName, desktopSettings(await tenantProfile(ctx), place.alias.path), files.newId);
  const aliasChange = options.remove ? files.exists(place.alias.path) : !files.isLinked(place.alias);
  if ((!plan || plan.changes.length === 0) && !aliasChange) {
    ctx.say(options.remove ? `Claude Desktop has no agent-runner-auth configuration in ${place.library.dir}.` : `Claude Desktop's configuration in ${place.library.dir} is already up to date.`);
    return 0;
  }
  const changes = plan?.changes ?? [];
  if (options.dryRun) {
    const { createTwoFilesPatch } = await import("diff");
    for (const c of changes) ctx.stdout(createTwoFilesPatch(c.path, c.path, c.before ?? "", c.after ?? "", "current", options.remove ? "after removal" : "after setup"));
    if (aliasChange) ctx.say(options.remove ? `Would remove the helper alias ${place.alias.path}.` : `Would create the helper alias ${place.alias.path} -> ${place.alias.target}.`);
    return 0;
  }
  // The alias first: an entry must never name a helper that does not exist yet.
  if (!options.remove && aliasChange) files.link(place.alias);
  for (const change of changes) apply(files, change);
  if (options.remove && aliasChange) files.remove(place.alias.path);
  const backups = changes.filter((c) => c.before !== null).map((c) => backupPath(c.path));
  if (options.remove) ctx.say(`Removed the agent-runner-auth configuration from Claude Desktop (${place.library.dir}).`);
  else {
    ctx.say(`Claude Desktop (${place.library.dir}) now uses profile "${ctx.profileName}" through ${place.alias.path}.`);
    ctx.say("Restart Claude Desktop; on its sign-in screen choose the gateway (third-party) option if it is not already in that mode.");
  }
  if (backups.length > 0) ctx.say(`The previous versions are in ${backups.join(", ")}.`);
  return 0;
}

function apply(files: DesktopFiles, change: FileChange): void {
  try {
    if (change.before !== null) files.write(backupPath(change.path), change.before, 0o600);
    if (change.after === null) files.remove(change.path);
    else files.write(change.path, change.after, 0o600);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`cannot write ${change.path}: ${(e as Error).message}`, undefined, { cause: e });
  }
}
