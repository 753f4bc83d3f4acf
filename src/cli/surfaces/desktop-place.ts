/**
 * Where Claude Desktop's configuration library and our helper alias are for this process, shared
 * by `setup claude-desktop` and `doctor`.
 *
 * Test hook: AGENT_RUNNER_AUTH_DESKTOP_PLATFORM=darwin|win32 configures as on that platform
 * (library under $HOME), so Linux CI can run the real binary against a real file tree.
 */
import type { CommandContext } from "../context.ts";
import { ConfigError } from "../errors.ts";
import type { Profile } from "../config.ts";
import { configDir } from "../paths.ts";
import type { Env, Platform } from "./ports.ts";
import { desktopHelperTtlSec, desktopLibraryDir, helperAliasPlan, type DesktopSettings, type HelperAliasPlan, type LibraryFiles } from "./desktop-config.ts";

export interface DesktopPlaceFiles {
  exists(path: string): boolean;
  read(path: string): string | null;
  join(platform: Platform, ...parts: string[]): string;
}

/** The platform to configure: the real one, or the documented test hook. */
export function desktopPlatform(env: Env, actual: Platform): Platform {
  const hook = env.AGENT_RUNNER_AUTH_DESKTOP_PLATFORM;
  return hook === "darwin" || hook === "win32" ? hook : actual;
}

/** Where the library and the alias are, for this process. */
export interface DesktopPlace {
  platform: Platform;
  library: LibraryFiles;
  alias: HelperAliasPlan;
}

export function desktopPlace(ctx: Pick<CommandContext, "env" | "self">, files: DesktopPlaceFiles, actual: Platform, profileName: string): DesktopPlace {
  const platform = desktopPlatform(ctx.env, actual);
  const home = ctx.env.HOME || ctx.env.USERPROFILE || "";
  const dir = desktopLibraryDir(platform, ctx.env, home, files.exists);
  const self = ctx.self();
  if (self.length !== 1) throw new ConfigError("Claude Desktop runs its helper with no arguments, so it needs the installed binary, not a run from source", "Run setup claude-desktop with the installed agent-runner-auth binary.");
  return {
    platform,
    library: { dir, read: (name) => files.read(files.join(platform, dir, name)), join: (name) => files.join(platform, dir, name) },
    alias: helperAliasPlan(platform, configDir(), self[0]!, profileName),
  };
}

export function desktopSettings(profile: Profile, helperPath: string): DesktopSettings {
  return { tenant: profile.tenant!, helperPath, ttlSec: desktopHelperTtlSec(profile.accessTokenLifetimeSeconds) };
}

