/**
 * What every command is given: its side effects behind narrow ports, built once by the factory
 * (src/cli/factory.ts) for the real process and filled with fakes by the unit tests. Commands
 * never call console.log, read process.env or Date.now() themselves.
 */
import type { ParsedArgs } from "./args.ts";
import { DEFAULT_PROFILE, validateProfileName, type Endpoints, type Profile, type TrustSource } from "./config.ts";
import { usageError } from "./errors.ts";
import { isStoreKind, type SecretStore, type StoreKind } from "./store/types.ts";
import type { HeldLock, LongWait } from "./lock.ts";
import type { BrowserOpener } from "./browser.ts";
import type { TokenSet } from "./session/records.ts";
import type { AttemptRecords } from "./session/login-cooldown.ts";
import type { HandoutRecords } from "./session/handouts.ts";
import type { LoginOptions } from "./oauth/login.ts";
import type { TenantDiscovery } from "../shared/tenant-discovery.ts";
import type { GatewayPort } from "./gateway/ports.ts";

export type Env = Readonly<Record<string, string | undefined>>;

/** Profile files (config.ts on disk; a map in tests). */
export interface ProfilePort {
  read(name: string): Promise<Profile | null>;
  /** The profile, or an auth-required error naming the login command. */
  require(name: string): Promise<Profile>;
  write(name: string, profile: Profile): Promise<void>;
  path(name: string): string;
}

/** Everything that talks to the IdP or the tenant (oauth/client.ts and oauth/login.ts). */
export interface OAuthPort {
  fetchTenantDiscovery(tenantUrl: string, trustOf: TrustSource): Promise<TenantDiscovery>;
  discoverEndpoints(issuer: string, trustOf: TrustSource): Promise<Endpoints>;
  /** Throws RefreshRejected when the refresh token is dead, another CliError otherwise. */
  refreshTokens(profile: Profile, refreshToken: string): Promise<TokenSet>;
  revokeRefreshToken(profile: Profile, refreshToken: string): Promise<void>;
  /** The interactive authorization code flow (loopback listener + browser) for `options.profile`. */
  signIn(options: Omit<LoginOptions, "trust">): Promise<TokenSet>;
  /** A bounded GET (or any request) under the endpoint policy: the body read whole (256 KiB, 15 s). */
  fetch(url: string, init: RequestInit | undefined, trustOf: TrustSource): Promise<Response>;
  /**
   * A request whose answer the caller reads as it arrives (doctor --deep, exec --keep-fresh):
   * the endpoint policy checked, no size cap or deadline here (the caller bounds the exchange).
   */
  stream(url: string, init: RequestInit, trustOf: TrustSource): Promise<Response>;
}

export interface TerminalPort {
  /** Why an automatic browser login is impossible here ($CI, no terminal, no display), or null. */
  interactiveLoginBlocker(): string | null;
  /** Whether stderr is a terminal (colour). */
  stderrIsTerminal(): boolean;
  /** What surfaces/helper-context.ts decides from (a controlling terminal, a display, $CI). */
  facts(): { hasTerminal: boolean; hasDisplay: boolean; isCI: boolean };
  /** Asks one question on the controlling terminal; null without one or without an answer. */
  ask(question: string): Promise<string | null>;
}

/** Reading files a command looks at but does not own (settings, directory profiles). */
export interface FilesPort {
  /** surfaces/ports.ts ReadText: null when absent; `trusted: false` never follows a symlink. */
  readText(path: string, options: { trusted: boolean }): string | null;
  exists(path: string): boolean;
}

export interface LockRequest {
  timeoutMs: number;
  onWait?: () => void;
  onLongWait?: (wait: LongWait) => void;
}

export interface CommandContext {
  profileName: string;
  /** Why this profile applies here (for `status`): "profile "x" (from /repo/.agent-runner-auth)". */
  profileReason: string;
  platform: NodeJS.Platform;
  /** The user's home directory. */
  home: string;
  files: FilesPort;
  /** The command's result on stdout (a token, JSON, a diff, a script): whole lines. */
  stdout(text: string): void;
  /** A status line on stderr. */
  say(line: string): void;
  /** A step, on stderr with --verbose only. Never pass a secret. */
  verbose(line: string): void;
  env: Env;
  cwd: string;
  now(): number;
  profiles: ProfilePort;
  /**
   * Opens the profile's store of that kind; `quiet` leaves out the plaintext-store notice,
   * `humanPresent` skips the terminal check (a person is known to be there: the longer timeout).
   */
  openStore(kind: StoreKind, options?: { quiet?: boolean; humanPresent?: boolean }): Promise<SecretStore>;
  /** Takes the profile lock (single flight of refresh and login across processes). */
  lock(request: LockRequest): Promise<HeldLock>;
  oauth: OAuthPort;
  /** The tenant gateway's own endpoints (logout, usage, admin API): transport, status-line cache, admin key file. */
  gateway: GatewayPort;
  browser: BrowserOpener;
  terminal: TerminalPort;
  /** Records of automatic login attempts (the cool-down). */
  attempts: AttemptRecords;
  /** When `token` last handed a token out, and refusals since (session/handouts.ts). */
  handouts: HandoutRecords;
  /** How to run this binary again (absolute). */
  self(): string[];
}

/** A command module: typed options from the parsed arguments, then the run. */
export interface CommandModule<O = unknown> {
  parseOptions(args: ParsedArgs, env: Env): O;
  run(ctx: CommandContext, options: O): Promise<number>;
}

export function resolveProfileName(flag: string | undefined, env: Env): string {
  return validateProfileName(flag ?? (env.AGENT_RUNNER_PROFILE || DEFAULT_PROFILE));
}

/**
 * The profile that applies here and why (issue 11, section 4): --profile > AGENT_RUNNER_PROFILE >
 * the nearest `.agent-runner-auth` / `.claude/settings*.json` env entry up to the repository root
 * > "default". With a flag or the variable nothing is read or loaded (the cached `token` path).
 */
export async function chooseProfileHere(flag: string | undefined, env: Env, cwd: string): Promise<{ name: string; reason: string }> {
  if (flag !== undefined) return { name: validateProfileName(flag), reason: `profile "${flag}" (from --profile)` };
  if (env.AGENT_RUNNER_PROFILE) return { name: validateProfileName(env.AGENT_RUNNER_PROFILE), reason: `profile "${env.AGENT_RUNNER_PROFILE}" (from AGENT_RUNNER_PROFILE)` };
  const defaultChoice = { name: DEFAULT_PROFILE, reason: `profile "${DEFAULT_PROFILE}" (no --profile, AGENT_RUNNER_PROFILE or .agent-runner-auth here)` };
  // The usual case (no candidate file up to the repository root) costs a few lstat calls and
  // loads nothing else; the walk that reads and checks the files runs only when one is there.
  if (!(await directoryCandidateNear(cwd))) return defaultChoice;
  const { findDirectoryProfile } = await import("./surfaces/directory-profile.ts");
  const { nodeReadText, nodeExists } = await import("./surfaces/ports.ts");
  const found = await findDirectoryProfile(cwd, process.platform, nodeReadText, nodeExists);
  if (found) return { name: found.profile, reason: `profile "${found.profile}" (from ${found.path})` };
  return defaultChoice;
}

/**
 * Whether `.agent-runner-auth` or `.claude/settings(.local).json` exists from cwd up to the
 * repository root. On the `token` path: Bun's own stat (`Bun.file().exists()`, false for a
 * directory) and string joins, because loading node:fs and node:path here cost ~1.4 ms per call.
 */
async function directoryCandidateNear(cwd: string): Promise<boolean> {
  const separator = cwd.includes("\\") && !cwd.includes("/") ? "\\" : "/";
  const join = (...parts: string[]) => parts.join(separator).replaceAll(separator + separator, separator);
  const exists = (path: string) => Bun.file(path).exists().catch(() => true); // odd entries: the real walk says what is wrong
  for (let dir = cwd.length > 1 && cwd.endsWith(separator) ? cwd.slice(0, -1) : cwd; ; ) {
    const found = await Promise.all([join(dir, ".agent-runner-auth"), join(dir, ".claude", "settings.local.json"), join(dir, ".claude", "settings.json")].map(exists));
    if (found.includes(true)) return true;
    const cut = dir.lastIndexOf(separator);
    const parent = cut <= 0 ? (separator === "/" ? "/" : dir) : separator === "\\" && cut === 2 ? dir.slice(0, 3) : dir.slice(0, cut);
    // the repository root: .git is a directory (its HEAD) or, in a worktree, a file
    if (parent === dir || (await exists(join(dir, ".git", "HEAD"))) || (await exists(join(dir, ".git")))) return false;
    dir = parent;
  }
}

/** A valid --store value (a usage error otherwise). */
export function storeFlag(args: ParsedArgs): StoreKind | undefined {
  const value = args.values.store;
  if (value !== undefined && !isStoreKind(value)) throw usageError(`--store must be keychain, pass or file, got "${value}"`);
  return value;
}

/** --store, else the profile's remembered choice, else $AGENT_RUNNER_AUTH_STORE, else keychain. */
export function resolveStoreKind(flag: StoreKind | undefined, env: Env, profile: Profile | null): StoreKind {
  const fromEnv = env.AGENT_RUNNER_AUTH_STORE || undefined;
  if (fromEnv !== undefined && !isStoreKind(fromEnv)) throw usageError(`AGENT_RUNNER_AUTH_STORE must be keychain, pass or file, got "${fromEnv}"`);
  return flag ?? profile?.store ?? fromEnv ?? "keychain";
}
