/**
 * Which profile applies here (issue 11, section 4). Precedence:
 *   --profile flag  >  AGENT_RUNNER_PROFILE  >  a directory file  >  "default".
 * (Claude Code passes its settings' env to the helper, so env.AGENT_RUNNER_PROFILE in
 * .claude/settings.json reaches `token` as the variable; the walk covers commands typed in a shell.)
 *
 * The walk: from cwd up to the repository root (the first directory holding `.git`) or the
 * filesystem root; in each directory, first hit wins:
 *   1. `.agent-runner-auth`: JSON `{"profile": "client-x"}` (an object, so more members can come);
 *   2. `.claude/settings.local.json`, then `.claude/settings.json`: `env.AGENT_RUNNER_PROFILE`.
 * These files are a repository's: read without following symlinks (the injected reader's
 * `trusted: false`). jsonc-parser is loaded only when a settings file exists (cheap `token` path).
 */
import { posix, win32 } from "node:path";
import { SurfacesError } from "./errors.ts";
import type { Env, Exists, Platform, ReadText } from "./ports.ts";

export const DIRECTORY_FILE = ".agent-runner-auth";
export const PROFILE_ENV = "AGENT_RUNNER_PROFILE";
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type ProfileSource = { kind: "flag" } | { kind: "env" } | { kind: "file"; path: string } | { kind: "default" };

export interface ProfileChoice {
  profile: string;
  source: ProfileSource;
  /** For `status`: "profile "x" (from /repo/.agent-runner-auth)". */
  sentence: string;
}

function badName(path: string, what: string): SurfacesError {
  return new SurfacesError("bad_file", `${path}: ${what} must be a profile name (letters, digits, '.', '_' or '-', at most 64 characters)`, `Fix ${path}, or pass --profile.`, { path });
}

function parseDirectoryFile(text: string, path: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SurfacesError("bad_file", `${path} is not valid JSON (expected {"profile": "<name>"})`, `Fix ${path}, or pass --profile.`, { cause: e, path });
  }
  const profile = typeof doc === "object" && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>).profile : undefined;
  if (typeof profile !== "string" || !PROFILE_NAME.test(profile)) throw badName(path, `"profile"`);
  return profile;
}

async function profileFromSettings(text: string, path: string): Promise<string | null> {
  const { parseJsoncObject } = await import("./jsonc.ts");
  const env = parseJsoncObject(text, path, `Fix ${path}, or pass --profile.`).env;
  const value = typeof env === "object" && env !== null ? (env as Record<string, unknown>)[PROFILE_ENV] : undefined;
  if (value === undefined) return null;
  if (typeof value !== "string" || !PROFILE_NAME.test(value)) throw badName(path, `env.${PROFILE_ENV}`);
  return value;
}

/**
 * Claude Code's settings file, or null when absent, or when it is a symlink or not a regular
 * file: it is not ours, so it is skipped rather than fatal (a repository's odd settings file must
 * not stop every command run there; `setup claude` refuses it with its own message).
 */
function readSettingsIfSafe(readText: ReadText, path: string): string | null {
  try {
    return readText(path, { trusted: false });
  } catch (e) {
    if (e instanceof SurfacesError && e.code === "unsafe_path") return null;
    throw e;
  }
}

/** The directory file or settings entry nearest to cwd, or null. */
export async function findDirectoryProfile(cwd: string, platform: Platform, readText: ReadText, exists: Exists): Promise<{ profile: string; path: string } | null> {
  const p = platform === "win32" ? win32 : posix;
  let dir = p.resolve(cwd);
  for (;;) {
    const file = p.join(dir, DIRECTORY_FILE);
    const text = readText(file, { trusted: false });
    if (text !== null) return { profile: parseDirectoryFile(text, file), path: file };
    for (const name of ["settings.local.json", "settings.json"]) {
      const settings = p.join(dir, ".claude", name);
      const settingsText = readSettingsIfSafe(readText, settings);
      if (settingsText === null) continue;
      const profile = await profileFromSettings(settingsText, settings);
      if (profile) return { profile, path: settings };
    }
    const parent = p.dirname(dir);
    if (parent === dir || exists(p.join(dir, ".git"))) return null;
    dir = parent;
  }
}

export async function chooseProfile(input: { flag: string | undefined; env: Env; cwd: string; platform: Platform; readText: ReadText; exists: Exists }): Promise<ProfileChoice> {
  if (input.flag !== undefined) return { profile: input.flag, source: { kind: "flag" }, sentence: `profile "${input.flag}" (from --profile)` };
  const fromEnv = input.env[PROFILE_ENV];
  if (fromEnv) {
    if (!PROFILE_NAME.test(fromEnv)) throw new SurfacesError("bad_env", `${PROFILE_ENV} must be a profile name (letters, digits, '.', '_' or '-')`, `Fix or unset ${PROFILE_ENV}.`);
    return { profile: fromEnv, source: { kind: "env" }, sentence: `profile "${fromEnv}" (from ${PROFILE_ENV})` };
  }
  const found = await findDirectoryProfile(input.cwd, input.platform, input.readText, input.exists);
  if (found) return { profile: found.profile, source: { kind: "file", path: found.path }, sentence: `profile "${found.profile}" (from ${found.path})` };
  return { profile: "default", source: { kind: "default" }, sentence: `profile "default" (no --profile, ${PROFILE_ENV} or ${DIRECTORY_FILE} here)` };
}
