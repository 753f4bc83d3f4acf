/**
 * Profiles: what `login` learned about a tenant (issuer, client, endpoints, chosen store), so
 * that `token` needs no flags and no network on its cached path. One small JSON file per
 * profile (no read-modify-write races between profiles), written atomically; a corrupt file is
 * reported with its path and left alone.
 */
import { configDir, joinPath } from "./paths.ts";
import { CliError, ExitCode, usageError } from "./errors.ts";
import { isStoreKind, type StoreKind } from "./store/types.ts";

export interface Endpoints {
  authorization: string;
  token: string;
  revocation?: string;
  userinfo?: string;
  endSession?: string;
}

export interface Profile {
  /** Tenant (proxy) URL, when the profile came from tenant discovery. */
  tenant?: string;
  issuer: string;
  clientId: string;
  redirectUris: string[];
  scopes: string[];
  store: StoreKind;
  endpoints: Endpoints;
  accessTokenLifetimeSeconds?: number;
  refreshTokenLifetimeSeconds?: number;
  /** The app client's registered sign-out URLs (loopback), for the pool's `/logout?logout_uri=`. */
  logoutUris?: string[];
  /** Cognito `identity_provider` sent on every sign-in (straight to the company IdP). */
  identityProvider?: string;
  /** Cognito `idp_identifier` sent on every sign-in. */
  idpIdentifier?: string;
  /** Pre-fills the user name on the sign-in page (`login_hint`). */
  loginHint?: string;
  /**
   * Set by `logout` when the hosted sign-in page's session may have survived (no browser to end
   * it): the next sign-in sends `prompt=login` so the previous person is not signed in silently.
   */
  loggedOut?: boolean;
  /** The CA bundle given at login (--ca-file, $AGENT_RUNNER_AUTH_CA_FILE), trusted by later refreshes. */
  caFile?: string;
}

export const DEFAULT_PROFILE = "default";

/** A command line for the user to run, with --profile when it is not the default one. */
export function commandFor(command: string, profile: string): string {
  return `agent-runner-auth ${command}${profile === DEFAULT_PROFILE ? "" : ` --profile ${profile}`}`;
}

/** The refresh token lifetime the tenant published, in ms (undefined when it did not). */
/**
 * The profile whose CA bundle (remembered at login) a request trusts, besides --ca-file and
 * $AGENT_RUNNER_AUTH_CA_FILE, which win; null when there is no profile yet. Handed in with each
 * request (context.ts's OAuthPort, gateway/ports.ts): reading a profile sets nothing.
 */
export type TrustSource = Pick<Profile, "caFile"> | null;

export function refreshLifetimeMs(profile: Pick<Profile, "refreshTokenLifetimeSeconds">): number | undefined {
  return profile.refreshTokenLifetimeSeconds ? profile.refreshTokenLifetimeSeconds * 1000 : undefined;
}
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** identity_provider, idp_identifier, login_hint: sent in a URL and shown, so short and printable. */
export const SIGN_IN_HINT = /^[^\p{Cc}\p{Cf}]{1,256}$/u;

export function profilePath(name: string): string {
  return joinPath(configDir(), "profiles", `${name}.json`);
}

export function validateProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw usageError(`invalid profile name "${name}"`, "Use letters, digits, '.', '_' or '-' (at most 64 characters).");
  }
  return name;
}

function corrupt(path: string, what: string): CliError {
  return new CliError(ExitCode.config, `the profile file ${path} is invalid: ${what}`, `Fix it, or move it away and run 'agent-runner-auth login <tenant URL>' again.`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkProfile(path: string, p: unknown): Profile {
  const bad = (member: string) => corrupt(path, member);
  if (!isRecord(p)) throw bad("not an object");
  for (const key of ["issuer", "clientId"] as const) if (typeof p[key] !== "string" || p[key] === "") throw bad(`"${key}" must be a non-empty string`);
  if (!Array.isArray(p.redirectUris) || !p.redirectUris.every((u) => typeof u === "string")) throw bad(`"redirectUris" must be a string array`);
  if (!Array.isArray(p.scopes) || !p.scopes.every((u) => typeof u === "string")) throw bad(`"scopes" must be a string array`);
  if (typeof p.store !== "string" || !isStoreKind(p.store)) throw bad(`"store" must be keychain, pass or file`);
  if (!isRecord(p.endpoints) || typeof p.endpoints.token !== "string" || typeof p.endpoints.authorization !== "string") throw bad(`"endpoints" must name the authorization and token endpoints`);
  if (p.logoutUris !== undefined && (!Array.isArray(p.logoutUris) || !p.logoutUris.every((u) => typeof u === "string"))) throw bad(`"logoutUris" must be a string array`);
  if (p.caFile !== undefined && (typeof p.caFile !== "string" || p.caFile === "")) throw bad(`"caFile" must be a file path`);
  for (const key of ["identityProvider", "idpIdentifier", "loginHint"] as const) {
    const v = p[key];
    if (v !== undefined && (typeof v !== "string" || !SIGN_IN_HINT.test(v))) throw bad(`"${key}" must be a short printable string`);
  }
  if (p.loggedOut !== undefined && typeof p.loggedOut !== "boolean") throw bad(`"loggedOut" must be true or false`);
  return p as unknown as Profile;
}

/** Reads a profile; null when it does not exist. (Bun.file: no node:fs on the token path.) */
export async function readProfile(name: string): Promise<Profile | null> {
  const path = profilePath(validateProfileName(name));
  let text: string;
  try {
    text = await Bun.file(path).text();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CliError(ExitCode.config, `cannot read the profile file ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw corrupt(path, `not valid JSON (${(e as Error).message})`);
  }
  return checkProfile(path, json);
}

/** A missing profile means "not logged in" (exit 1), with the command to run. */
export async function requireProfile(name: string): Promise<Profile> {
  const profile = await readProfile(name);
  if (!profile) {
    throw new CliError(
      ExitCode.authRequired,
      `no tenant configured for profile "${name}"`,
      `Run: ${commandFor("login <tenant URL>", name)}`,
    );
  }
  return profile;
}

export async function writeProfile(name: string, profile: Profile): Promise<void> {
  const path = profilePath(validateProfileName(name));
  const { writeFileAtomic } = await import("./fs-atomic.ts");
  try {
    writeFileAtomic(path, JSON.stringify(profile, null, 2) + "\n", { mode: 0o600 });
  } catch (e) {
    throw new CliError(ExitCode.config, `cannot write the profile file ${path}: ${(e as Error).message}`);
  }
}

export async function listProfiles(): Promise<string[]> {
  const { readdirSync } = await import("node:fs");
  try {
    return readdirSync(joinPath(configDir(), "profiles"))
      .filter((f) => f.endsWith(".json") && !f.startsWith("."))
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}
