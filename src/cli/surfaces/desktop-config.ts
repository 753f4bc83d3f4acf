/**
 * `setup claude-desktop`: Claude Desktop's (Cowork on third-party inference) per-user
 * configuration library, and the helper alias Desktop runs. Pure: the command reads the files,
 * calls planDesktopConfig, shows the diff (--dry-run) or writes backups and files atomically.
 *
 * Layout (sources: claude-surfaces.md; integrations that read the app: `_meta.json` is
 * `{"appliedId": "<uuid>", "entries": [{"id", "name"}]}`, ids are lowercase UUIDs):
 *   macOS    ~/Library/Application Support/Claude-3p/configLibrary/
 *   Windows  %APPDATA%\Claude-3p\configLibrary\ (reported; some integrations write
 *            %LOCALAPPDATA%\Claude-3p: the one that exists is used, %APPDATA% when neither)
 *   Linux    no Claude Desktop: refused.
 * Desktop opens this library only in its third-party ("gateway") mode, chosen on its sign-in
 * screen; we never switch the user's deployment mode.
 *
 * The helper: Desktop runs `inferenceCredentialHelper` with NO arguments, so the path is an alias
 * of this binary named `agent-runner-auth-desktop-helper[.<profile>][.exe]`: main.ts, seeing that
 * name in argv0, runs `token --format desktop [--profile <profile>]`. A symlink on macOS (follows
 * upgrades of the binary in place), a hard link or copy on Windows (CreateProcess runs no
 * scripts; `doctor` compares the copy's version).
 */
import { posix, win32 } from "node:path";
import { SurfacesError } from "./errors.ts";
import { desktopBaseUrl } from "./token-output.ts";
import type { Env, Exists, Platform } from "./ports.ts";

export const ENTRY_NAME_PREFIX = "agent-runner-auth";
export const HELPER_ALIAS = "agent-runner-auth-desktop-helper";
/** Desktop caches the helper's output this long at most (integrations use 300 s). */
export const DESKTOP_TTL_CAP_SEC = 300;

export function entryName(profile: string): string {
  return profile === "default" ? ENTRY_NAME_PREFIX : `${ENTRY_NAME_PREFIX} (${profile})`;
}

function unsupported(platform: Platform): SurfacesError {
  return new SurfacesError(
    "unsupported_platform",
    `Claude Desktop runs on macOS and Windows; there is nothing to configure on ${platform}`,
    "On this machine use `agent-runner-auth setup claude` (Claude Code), `exec` or `env`. An administrator can still generate the fleet's form here: setup claude-desktop --mdm macos|windows.",
  );
}

/** Candidate library directories, the one to use first. */
export function desktopLibraryDir(platform: Platform, env: Env, home: string, exists: Exists): string {
  if (platform === "darwin") return posix.join(home, "Library", "Application Support", "Claude-3p", "configLibrary");
  if (platform !== "win32") throw unsupported(platform);
  const roaming = win32.join(env.APPDATA || win32.join(home, "AppData", "Roaming"), "Claude-3p", "configLibrary");
  const local = win32.join(env.LOCALAPPDATA || win32.join(home, "AppData", "Local"), "Claude-3p", "configLibrary");
  if (!exists(win32.dirname(roaming)) && exists(win32.dirname(local))) return local;
  return roaming;
}

/** Desktop's cache TTL: at most 300 s, at most a quarter of the token's life, at least 30 s. */
export function desktopHelperTtlSec(accessTokenLifetimeSec: number | undefined): number {
  const lifetime = accessTokenLifetimeSec ?? 3600;
  return Math.max(30, Math.min(DESKTOP_TTL_CAP_SEC, Math.floor(lifetime / 4)));
}

/** The validity `token --format desktop` asks for: twice the TTL (refresh when less remains). */
export function desktopMinValidityMs(ttlSec: number): number {
  return 2 * ttlSec * 1000;
}

/** The alias's file name for a profile (profile names are [A-Za-z0-9._-]: safe in a file name). */
export function helperAliasName(profile: string, platform: Platform): string {
  return `${HELPER_ALIAS}${profile === "default" ? "" : `.${profile}`}${platform === "win32" ? ".exe" : ""}`;
}

/** main.ts: is this process the alias? Then it is `token --format desktop [--profile P]`. */
export function parseHelperAlias(argv0: string, platform: Platform): { profile: string } | null {
  let name = argv0.split(platform === "win32" ? /[\\/]/ : "/").pop() ?? "";
  if (platform === "win32" && /\.exe$/i.test(name)) name = name.slice(0, -4);
  if (name === HELPER_ALIAS) return { profile: "default" };
  if (!name.startsWith(`${HELPER_ALIAS}.`)) return null;
  const profile = name.slice(HELPER_ALIAS.length + 1);
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(profile) ? { profile } : null;
}

export interface HelperAliasPlan {
  path: string;
  target: string;
  /** symlink on macOS; on Windows a hard link, or a copy when the link fails (another volume). */
  kind: "symlink" | "hardlink-or-copy";
}

/** Where the alias goes: beside the CLI's own configuration, `desktop-helper/`. */
export function helperAliasPlan(platform: Platform, cliConfigDir: string, binaryPath: string, profile: string): HelperAliasPlan {
  const p = platform === "win32" ? win32 : posix;
  if (!p.isAbsolute(binaryPath)) throw new TypeError("the binary's path must be absolute (Desktop does not search PATH)");
  return { path: p.join(cliConfigDir, "desktop-helper", helperAliasName(profile, platform)), target: binaryPath, kind: platform === "win32" ? "hardlink-or-copy" : "symlink" };
}

export interface DesktopSettings {
  tenant: string;
  helperPath: string;
  ttlSec: number;
}

/** The members we own in an entry (values in Desktop's own types). */
export function desktopEntryMembers(s: DesktopSettings): Record<string, string | number> {
  return {
    inferenceProvider: "gateway",
    inferenceGatewayBaseUrl: desktopBaseUrl(s.tenant),
    inferenceGatewayAuthScheme: "bearer",
    // Several integrations report the helper is ignored without it.
    inferenceCredentialKind: "helper-script",
    inferenceCredentialHelper: s.helperPath,
    inferenceCredentialHelperTtlSec: s.ttlSec,
  };
}

/** With a helper there is no static key: one left from an earlier manual setup is removed. */
const REMOVED_MEMBERS = ["inferenceGatewayApiKey"];

interface Meta {
  appliedId?: string;
  entries: { id: string; name: string }[];
  [other: string]: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function parseJsonObject(text: string, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SurfacesError("bad_file", `${path} is not valid JSON; it was left untouched`, "Open Claude Desktop's third-party inference settings to repair it, or move the file away.", { cause: e, path });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SurfacesError("bad_file", `${path}: the top level is not a JSON object; it was left untouched`, undefined, { path });
  return value as Record<string, unknown>;
}

function parseMeta(text: string | null, path: string): Meta {
  if (text === null || text.trim() === "") return { entries: [] };
  const doc = parseJsonObject(text, path);
  const entries = doc.entries ?? [];
  if (!Array.isArray(entries) || !entries.every((e) => typeof e === "object" && e !== null && typeof (e as Meta["entries"][0]).id === "string")) {
    throw new SurfacesError("bad_file", `${path}: "entries" is not a list of {id, name}; it was left untouched`, undefined, { path });
  }
  return { ...doc, entries: entries as Meta["entries"] } as Meta;
}

export function isOurHelperPath(value: unknown): boolean {
  return typeof value === "string" && (parseHelperAlias(value, "darwin") !== null || parseHelperAlias(value, "win32") !== null);
}

export interface LibraryFiles {
  dir: string;
  /** Reads a file of the library by name; null when absent. */
  read: (name: string) => string | null;
  join: (name: string) => string;
}

export interface FileChange {
  path: string;
  before: string | null;
  /** null: delete the file. */
  after: string | null;
}

export interface DesktopPlan {
  id: string;
  changes: FileChange[];
  /** The entry Desktop applied before (restored by --remove when it still exists). */
  previouslyApplied: string | undefined;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Our entry (by name), after checking it is ours (its helper is our alias). */
function findOurs(meta: Meta, name: string, lib: LibraryFiles): { id: string; entry: Record<string, unknown> } | null {
  const found = meta.entries.find((e) => e.name === name);
  if (!found) return null;
  if (!UUID.test(found.id)) throw new SurfacesError("desktop_config", `${lib.join("_meta.json")}: the entry "${name}" has an id that is not a UUID`, "Remove that entry in Claude Desktop's settings, then run this again.");
  const path = lib.join(`${found.id}.json`);
  const text = lib.read(`${found.id}.json`);
  const entry = text === null ? {} : parseJsonObject(text, path);
  if (text !== null && entry.inferenceCredentialHelper !== undefined && !isOurHelperPath(entry.inferenceCredentialHelper)) {
    throw new SurfacesError("desktop_config", `${path} is named "${name}" but was not created by agent-runner-auth (its credential helper is another program); it was left untouched`, "Rename or remove that configuration in Claude Desktop, then run this again.", { path });
  }
  return { id: found.id, entry };
}

/** Adds or updates our entry (other members the user set in it kept) and makes it the applied one. */
export function planDesktopConfig(lib: LibraryFiles, profile: string, settings: DesktopSettings, newId: () => string): DesktopPlan {
  const metaPath = lib.join("_meta.json");
  const metaText = lib.read("_meta.json");
  const meta = parseMeta(metaText, metaPath);
  const name = entryName(profile);
  const ours = findOurs(meta, name, lib);
  const id = ours?.id ?? newId();
  if (!UUID.test(id)) throw new TypeError("newId must return a lowercase UUID");
  const entryBefore = lib.read(`${id}.json`);
  const entry: Record<string, unknown> = { ...(ours?.entry ?? {}), ...desktopEntryMembers(settings) };
  for (const key of REMOVED_MEMBERS) delete entry[key];
  const nextMeta: Meta = { ...meta, appliedId: id, entries: ours ? meta.entries : [...meta.entries, { id, name }] };
  const changes: FileChange[] = [
    { path: lib.join(`${id}.json`), before: entryBefore, after: json(entry) },
    { path: metaPath, before: metaText, after: json(nextMeta) },
  ].filter((c) => c.before !== c.after);
  return { id, changes, previouslyApplied: meta.appliedId !== id ? meta.appliedId : undefined };
}

/** Takes our entry out; when it was applied, Desktop falls back to the first remaining entry. */
export function planDesktopRemoval(lib: LibraryFiles, profile: string): DesktopPlan | null {
  const metaPath = lib.join("_meta.json");
  const metaText = lib.read("_meta.json");
  const meta = parseMeta(metaText, metaPath);
  const ours = findOurs(meta, entryName(profile), lib);
  if (!ours) return null;
  const entries = meta.entries.filter((e) => e.id !== ours.id);
  const nextMeta: Meta = { ...meta, entries };
  if (meta.appliedId === ours.id) {
    if (entries[0]) nextMeta.appliedId = entries[0].id;
    else delete nextMeta.appliedId;
  }
  const entryText = lib.read(`${ours.id}.json`);
  const changes: FileChange[] = [{ path: metaPath, before: metaText, after: json(nextMeta) }];
  if (entryText !== null) changes.push({ path: lib.join(`${ours.id}.json`), before: entryText, after: null });
  return { id: ours.id, changes, previouslyApplied: undefined };
}

/** `doctor`: what is wrong with our entry, one line each with the fix (empty: fine). */
export function checkDesktopEntry(lib: LibraryFiles, profile: string, expected: DesktopSettings, helperExists: Exists): string[] {
  const meta = parseMeta(lib.read("_meta.json"), lib.join("_meta.json"));
  const ours = findOurs(meta, entryName(profile), lib);
  const fix = `Run: agent-runner-auth setup claude-desktop${profile === "default" ? "" : ` --profile ${profile}`}`;
  if (!ours) return [`Claude Desktop has no "${entryName(profile)}" configuration. ${fix}`];
  const problems: string[] = [];
  const want = desktopEntryMembers(expected);
  for (const [key, value] of Object.entries(want)) {
    if (key === "inferenceCredentialHelperTtlSec") continue;
    if (ours.entry[key] !== value) problems.push(`Claude Desktop's ${key} is ${JSON.stringify(ours.entry[key])}, expected ${JSON.stringify(value)}. ${fix}`);
  }
  const ttl = Number(ours.entry.inferenceCredentialHelperTtlSec ?? 3600);
  if (!(ttl > 0 && ttl <= expected.ttlSec)) problems.push(`Claude Desktop caches the token for ${ttl} s, longer than ${expected.ttlSec} s (the token could expire in its cache). ${fix}`);
  if (REMOVED_MEMBERS.some((k) => ours.entry[k] !== undefined)) problems.push(`Claude Desktop's configuration also holds a static inferenceGatewayApiKey, which is sent instead of the signed-in token. ${fix}`);
  if (typeof ours.entry.inferenceCredentialHelper === "string" && !helperExists(ours.entry.inferenceCredentialHelper)) problems.push(`Claude Desktop's credential helper ${ours.entry.inferenceCredentialHelper} does not exist. ${fix}`);
  if (meta.appliedId !== ours.id) problems.push(`Claude Desktop has the "${entryName(profile)}" configuration but another one is applied. Choose it in Claude Desktop's third-party inference settings, or ${fix.toLowerCase()}`);
  return problems;
}
