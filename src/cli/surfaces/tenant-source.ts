/**
 * Where bare `agent-runner-auth login` finds the tenant (issue 11, section 0), first hit wins:
 *   1. the profile's saved tenant;
 *   2. AGENT_RUNNER_TENANT;
 *   3. the system-wide configuration an administrator or MDM installs (systemConfigPath);
 *   4. Claude Code's settings, in Claude Code's own precedence (managed, local, project, user):
 *      an env.ANTHROPIC_BASE_URL ending in /anthropic/v1 or /anthropic names a tenant, kept only
 *      when the tenant's RFC 9728 discovery document answers and parses (so a LiteLLM or other
 *      gateway URL is skipped with a note, never signed in to);
 *   5. a prompt at the terminal (injected; absent without one).
 * Nothing here reads process state: env, files, fetch and the prompt are parameters.
 */
import { posix, win32 } from "node:path";
import { checkTenantUrl, EndpointPolicyError } from "../../shared/endpoint-policy.ts";
import { discoveryUrlFor, parseTenantDiscovery } from "../../shared/tenant-discovery.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";
import { SurfacesError } from "./errors.ts";
import { parseJsoncObject } from "./jsonc.ts";
import type { Env, Platform, ReadText } from "./ports.ts";

export type TenantSource = "profile" | "env" | "system" | `claude-settings:${string}` | "prompt";

/** The system-wide configuration's shape (`config.json`); every member but `tenant` optional. */
export interface SystemConfig {
  tenant: string;
  /** The profile name bare `login` creates (default "default"). */
  profile?: string;
  /** Cognito `identity_provider`: straight to the company IdP. */
  identityProvider?: string;
  /** Cognito `idp_identifier`. */
  idpIdentifier?: string;
  /** Pre-fills the user name (rarely useful fleet-wide, allowed for kiosk-like machines). */
  loginHint?: string;
}

export interface TenantResolution {
  tenant: string;
  source: TenantSource;
  /** One line for stderr: which source was used. */
  sentence: string;
  /** Lines for stderr about candidates that were skipped (a non-tenant ANTHROPIC_BASE_URL...). */
  notes: string[];
  /** The system configuration, when it was the source (its login hints apply). */
  system?: SystemConfig;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface TenantSourceDeps {
  env: Env;
  platform: Platform;
  cwd: string;
  home: string;
  profileName: string;
  /** The profile's saved tenant, if the profile exists and has one. */
  savedTenant: string | undefined;
  readText: ReadText;
  /** Must be bounded in size and time (the wiring passes boundedFetch with a short timeout). */
  fetch: FetchLike;
  /** Asks for the tenant URL at a terminal; undefined when there is none. null/"" = no answer. */
  prompt?: () => Promise<string | null>;
}

export const TENANT_ENV = "AGENT_RUNNER_TENANT";
/** Overrides the system configuration's path (tests, unusual installs). */
export const SYSTEM_CONFIG_ENV = "AGENT_RUNNER_AUTH_SYSTEM_CONFIG";

const pathFor = (platform: Platform) => (platform === "win32" ? win32 : posix);

/** `/etc/...`, `/Library/Application Support/...`, `%ProgramData%\...` (or the override). */
export function systemConfigPath(platform: Platform, env: Env): string {
  if (env[SYSTEM_CONFIG_ENV]) return env[SYSTEM_CONFIG_ENV];
  if (platform === "win32") return win32.join(env.ProgramData || env.PROGRAMDATA || "C:\\ProgramData", "agent-runner-auth", "config.json");
  if (platform === "darwin") return "/Library/Application Support/agent-runner-auth/config.json";
  return "/etc/agent-runner-auth/config.json";
}

export interface ClaudeSettingsFile {
  scope: "managed" | "local" | "project" | "user";
  path: string;
  /** Files a repository controls are never read through a symlink. */
  trusted: boolean;
}

/**
 * Claude Code's settings files, highest precedence first (managed > local > project > user).
 * Managed: /Library/Application Support/ClaudeCode, /etc/claude-code, C:\Program Files\ClaudeCode
 * (and C:\ProgramData\ClaudeCode, the path older versions documented). Drop-ins under
 * managed-settings.d/ are not read.
 */
export function claudeSettingsFiles(platform: Platform, env: Env, cwd: string, home: string): ClaudeSettingsFile[] {
  const p = pathFor(platform);
  const managed: string[] =
    platform === "win32"
      ? [win32.join(env.ProgramFiles || "C:\\Program Files", "ClaudeCode", "managed-settings.json"), win32.join(env.ProgramData || env.PROGRAMDATA || "C:\\ProgramData", "ClaudeCode", "managed-settings.json")]
      : [platform === "darwin" ? "/Library/Application Support/ClaudeCode/managed-settings.json" : "/etc/claude-code/managed-settings.json"];
  const userDir = (env.CLAUDE_CONFIG_DIR || p.join(home, ".claude")).replace(/(?<=.)[\\/]+$/, "");
  return [
    ...managed.map((path) => ({ scope: "managed" as const, path, trusted: true })),
    { scope: "local", path: p.join(cwd, ".claude", "settings.local.json"), trusted: false },
    { scope: "project", path: p.join(cwd, ".claude", "settings.json"), trusted: false },
    { scope: "user", path: p.join(userDir, "settings.json"), trusted: true },
  ];
}

/** `https://t.example.com/anthropic/v1` or `.../anthropic` -> `https://t.example.com`; otherwise null. */
export function tenantFromBaseUrl(value: unknown): string | null {
  if (typeof value !== "string") return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.search || url.hash || url.username || url.password) return null;
  const match = /^(.*?)\/anthropic(?:\/v1)?$/.exec(url.pathname.replace(/\/+$/, ""));
  return match ? url.origin + match[1] : null;
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SYSTEM_HINT = "Ask your administrator to fix it (it is installed system-wide), or pass the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>";

/** Validates the system configuration; null for an absent, empty or `{}` file (packages ship an empty example). */
export function parseSystemConfig(text: string, path: string): SystemConfig | null {
  const doc = parseJsoncObject(text, path, SYSTEM_HINT);
  const keys = Object.keys(doc).filter((k) => k !== "$schema");
  if (keys.length === 0) return null;
  const bad = (what: string): never => {
    throw new SurfacesError("bad_file", `${path}: ${what}`, SYSTEM_HINT, { path });
  };
  const known = new Set(["tenant", "profile", "identityProvider", "idpIdentifier", "loginHint"]);
  const unknown = keys.filter((k) => !known.has(k));
  if (unknown.length > 0) bad(`unknown member ${JSON.stringify(sanitizeForTerminal(unknown[0]))} (known: ${[...known].join(", ")})`);
  try {
    checkTenantUrl(`"tenant"`, doc.tenant);
  } catch (e) {
    if (e instanceof EndpointPolicyError) bad(e.message);
    throw e;
  }
  for (const key of ["profile", "identityProvider", "idpIdentifier", "loginHint"] as const) {
    const v = doc[key];
    if (v === undefined) continue;
    if (typeof v !== "string" || v === "" || v.length > 256 || /[\u0000-\u001f\u007f-\u009f]/.test(v)) bad(`"${key}" must be a non-empty string of at most 256 printable characters`);
  }
  if (doc.profile !== undefined && !PROFILE_NAME.test(doc.profile as string)) bad(`"profile" must use letters, digits, '.', '_' or '-' (at most 64 characters)`);
  const tenant = (doc.tenant as string).replace(/\/+$/, "");
  return { ...(doc as Omit<SystemConfig, "tenant">), tenant } as SystemConfig;
}

function policyChecked(what: string, value: string, code: "bad_env" | "bad_prompt_answer", hint: string): string {
  try {
    return checkTenantUrl(what, value).href.replace(/\/+$/, "");
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw new SurfacesError(code, e.message, hint, { cause: e });
    throw e;
  }
}

/** The tenant's discovery document answers for it: the base URL is one of ours. */
async function confirmTenant(tenant: string, fetch: FetchLike): Promise<string | null> {
  const url = discoveryUrlFor(tenant);
  try {
    const response = await fetch(url, { headers: { accept: "application/json" }, redirect: "error" });
    if (!response.ok) return `it answered HTTP ${response.status} at ${url}`;
    parseTenantDiscovery(await response.json(), tenant);
    return null;
  } catch (e) {
    return `its discovery document at ${url} could not be used (${(e as Error).message})`;
  }
}

export function noTenantError(): SurfacesError {
  return new SurfacesError("no_tenant", "no tenant configured yet", "Run: agent-runner-auth login https://<your-slug>.proxy.<domain>");
}

/** Resolves the tenant for bare `login`; throws SurfacesError (no_tenant when every source is empty). */
export async function resolveTenant(deps: TenantSourceDeps): Promise<TenantResolution> {
  const notes: string[] = [];
  const show = (s: string) => sanitizeForTerminal(s);
  if (deps.savedTenant) {
    return { tenant: deps.savedTenant, source: "profile", sentence: `Using the tenant ${show(deps.savedTenant)} saved in profile "${deps.profileName}".`, notes };
  }
  const fromEnv = deps.env[TENANT_ENV];
  if (fromEnv) {
    const tenant = policyChecked(TENANT_ENV, fromEnv, "bad_env", `Set ${TENANT_ENV} to the tenant URL (https://<slug>.proxy.<domain>), or unset it.`);
    return { tenant, source: "env", sentence: `Using the tenant ${show(tenant)} from ${TENANT_ENV}.`, notes };
  }
  const systemPath = systemConfigPath(deps.platform, deps.env);
  const systemText = deps.readText(systemPath, { trusted: true });
  const system = systemText === null ? null : parseSystemConfig(systemText, systemPath);
  if (system) {
    return { tenant: system.tenant, source: "system", sentence: `Using the tenant ${show(system.tenant)} from ${systemPath} (installed by your administrator).`, notes, system };
  }
  for (const file of claudeSettingsFiles(deps.platform, deps.env, deps.cwd, deps.home)) {
    const text = deps.readText(file.path, { trusted: file.trusted });
    if (text === null) continue;
    const settings = parseJsoncObject(text, file.path, "Fix the file (Claude Code reads it too), or pass the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>");
    const env = settings.env;
    const base = typeof env === "object" && env !== null ? (env as Record<string, unknown>).ANTHROPIC_BASE_URL : undefined;
    if (base === undefined) continue;
    const tenant = tenantFromBaseUrl(base);
    if (!tenant) {
      notes.push(`${file.path}: ANTHROPIC_BASE_URL ${show(JSON.stringify(base))} does not end in /anthropic/v1 or /anthropic; not a tenant gateway, skipped.`);
      continue;
    }
    try {
      checkTenantUrl("ANTHROPIC_BASE_URL", tenant);
    } catch (e) {
      if (!(e instanceof EndpointPolicyError)) throw e;
      notes.push(`${file.path}: ${show(e.message)}; skipped.`);
      continue;
    }
    const problem = await confirmTenant(tenant, deps.fetch);
    if (problem) {
      notes.push(`${file.path}: ANTHROPIC_BASE_URL points at ${show(tenant)}, but ${show(problem)}; skipped.`);
      continue;
    }
    return {
      tenant,
      source: `claude-settings:${file.path}`,
      sentence: `Using the tenant ${show(tenant)} from ${file.path} (Claude Code's ${file.scope} settings, ANTHROPIC_BASE_URL).`,
      notes,
    };
  }
  if (deps.prompt) {
    const answer = (await deps.prompt())?.trim();
    if (answer) {
      // People paste the base URL from their settings: accept it too.
      const tenant = policyChecked("the tenant URL", tenantFromBaseUrl(answer) ?? answer, "bad_prompt_answer", "Type the tenant URL, like https://<slug>.proxy.<domain>.");
      return { tenant, source: "prompt", sentence: `Using the tenant ${show(tenant)} you typed.`, notes };
    }
  }
  throw noTenantError();
}
