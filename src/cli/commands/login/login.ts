/** `login`: configure the profile (tenant discovery or explicit issuer) and sign in. */
import type { ParsedArgs } from "../../args.ts";
import { parseDuration } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { resolveStoreKind, storeFlag } from "../../context.ts";
import { commandFor, refreshLifetimeMs, SIGN_IN_HINT, type Profile } from "../../config.ts";
import { usageError } from "../../errors.ts";
import { ASK_ADMIN, checkProfile } from "../../oauth/client.ts";
import { checkEndpointUrl, checkRedirectUri, checkTenantUrl, EndpointPolicyError } from "../../../shared/endpoint-policy.ts";
import { sanitizeForTerminal } from "../../terminal-text.ts";
import { clearSession, saveTokens } from "../../session/session.ts";
import { probeStore, type StoreKind } from "../../store/types.ts";
import { browserLogin, LOCK_TIMEOUT_MS, type LoginSettings } from "../../session/interactive-login.ts";
import { displayUser, jwtClaims } from "../../session/records.ts";
import { browserHere, detectPlace, signInScreen } from "../../surfaces/where-am-i.ts";

export const DEFAULT_REDIRECT_URIS = ["http://localhost:53682/callback", "http://localhost:53683/callback", "http://localhost:53684/callback"];
export const DEFAULT_SCOPES = ["openid", "email", "profile"];

export interface LoginOptions extends LoginSettings {
  store: StoreKind | undefined;
  tenant: string | undefined;
  issuer: string | undefined;
  clientId: string | undefined;
  redirectUris: string[] | undefined;
  scopes: string[] | undefined;
  /** --identity-provider, --idp-identifier, --login-hint: saved in the profile. */
  hints: Pick<Profile, "identityProvider" | "idpIdentifier" | "loginHint">;
}

function hint(option: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!SIGN_IN_HINT.test(value)) throw usageError(`--${option} must be 1 to 256 printable characters`);
  return value;
}

/** Sign-in hints, first hit per member: the command line, the saved profile, the system config, the tenant. */
function mergeHints(...sources: Hints[]): Pick<Profile, "identityProvider" | "idpIdentifier" | "loginHint"> {
  const out: Pick<Profile, "identityProvider" | "idpIdentifier" | "loginHint"> = {};
  for (const key of ["identityProvider", "idpIdentifier", "loginHint"] as const) {
    const value = sources.map((s) => s?.[key]).find((v) => v !== undefined && v !== "");
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** A URL from the command line, checked by the endpoint policy (exit 2 when refused). */
function checkUrl(option: string, value: string, check: (what: string, value: string) => URL = checkTenantUrl): string {
  let url: URL;
  try {
    url = check(option, value);
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw usageError(sanitizeForTerminal(e.message), check === checkRedirectUri ? "Register a loopback redirect URI such as http://localhost:53682/callback." : "Give the full https:// address, for example https://acme.proxy.example.com");
    throw e;
  }
  return url.href.replace(/\/+$/, "");
}

/** An issuer: an endpoint without query (OpenID Connect Discovery section 2). */
function checkIssuer(what: string, value: string): URL {
  const url = checkEndpointUrl(what, value);
  if (url.search) throw new EndpointPolicyError(what, "must not carry a query");
  return url;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usageError(`--port must be a port number, got "${text}"`);
  return port;
}

export function parseOptions(args: ParsedArgs, _env: Env): LoginOptions {
  const port = args.values.port !== undefined ? parsePort(args.values.port) : undefined;
  const timeoutMs = args.values.timeout !== undefined ? parseDuration("timeout", args.values.timeout) : undefined;
  const store = storeFlag(args);
  if (args.positionals.length > 1) throw usageError(`login takes one TENANT_URL, got ${args.positionals.length} arguments`);
  const tenant = args.positionals[0] || undefined;
  const issuer = args.values.issuer || undefined;
  const clientId = args.values["client-id"] || undefined;
  if (tenant && (issuer || clientId)) throw usageError("give either TENANT_URL or --issuer with --client-id, not both");
  if (Boolean(issuer) !== Boolean(clientId)) throw usageError("--issuer and --client-id go together");
  return {
    store,
    tenant,
    issuer,
    clientId,
    redirectUris: args.lists["redirect-uri"],
    scopes: args.values.scope ? args.values.scope.split(/\s+/).filter(Boolean) : undefined,
    noBrowser: Boolean(args.flags["no-browser"]),
    switchUser: Boolean(args.flags["switch-user"]),
    hints: mergeHints({
      identityProvider: hint("identity-provider", args.values["identity-provider"]),
      idpIdentifier: hint("idp-identifier", args.values["idp-identifier"]),
      loginHint: hint("login-hint", args.values["login-hint"]),
    }),
    timeoutMs,
    ...(port !== undefined ? { port } : {}),
  };
}

/** The profile of a tenant, from its discovery document. */
type Hints = Partial<Pick<Profile, "identityProvider" | "idpIdentifier" | "loginHint">> | undefined;

async function fromTenant(ctx: CommandContext, tenant: string, store: StoreKind, hints: Hints[], saved: Profile | null): Promise<Profile> {
  ctx.verbose(`reading the tenant discovery document of ${tenant}`);
  const discovery = await ctx.oauth.fetchTenantDiscovery(tenant, saved); // the saved profile's CA bundle, if it has one
  const issuer = discovery.authorization_servers[0];
  const client = discovery.agent_runner_auth;
  ctx.verbose(sanitizeForTerminal(`issuer ${issuer}, client ${client.client_id}`));
  return checked({
    tenant,
    issuer,
    clientId: client.client_id,
    redirectUris: client.redirect_uris,
    scopes: client.scopes.length > 0 ? client.scopes : DEFAULT_SCOPES,
    store,
    endpoints: await ctx.oauth.discoverEndpoints(issuer, saved),
    ...(client.access_token_lifetime_seconds ? { accessTokenLifetimeSeconds: client.access_token_lifetime_seconds } : {}),
    ...(client.refresh_token_lifetime_seconds ? { refreshTokenLifetimeSeconds: client.refresh_token_lifetime_seconds } : {}),
    ...(client.logout_uris?.length ? { logoutUris: client.logout_uris } : {}),
    ...mergeHints(...hints, { identityProvider: client.identity_provider, idpIdentifier: client.idp_identifier }),
  });
}

/**
 * Bare `login` (issue 11, section 0): the saved tenant, AGENT_RUNNER_TENANT, the system
 * configuration, Claude Code's settings, a prompt at the terminal; the source said on stderr.
 */
async function fromTenantSources(ctx: CommandContext, options: LoginOptions, saved: Profile | null, store: StoreKind): Promise<Profile> {
  const { resolveTenant } = await import("../../surfaces/tenant-source.ts");
  const resolution = await resolveTenant({
    env: ctx.env,
    platform: ctx.platform,
    cwd: ctx.cwd,
    home: ctx.home,
    profileName: ctx.profileName,
    savedTenant: saved?.tenant,
    readText: ctx.files.readText,
    fetch: (url, init) => ctx.oauth.fetch(url, init, saved),
    prompt: () => ctx.terminal.ask("Tenant URL (https://<your-slug>.proxy.<domain>): "),
  });
  for (const note of resolution.notes) ctx.say(`agent-runner-auth: ${note}`);
  ctx.say(resolution.sentence);
  if (resolution.source === "profile" && saved) {
    checkProfile(saved, ctx.profiles.path(ctx.profileName)); // a hand-edited file: nothing opened or sent
    return { ...saved, store, ...mergeHints(options.hints, saved) };
  }
  return fromTenant(ctx, resolution.tenant, store, [options.hints, saved ?? undefined, resolution.system], saved);
}

/** Builds the profile from the options: tenant discovery, explicit issuer, or the saved one. */
async function resolveProfile(ctx: CommandContext, options: LoginOptions, saved: Profile | null): Promise<Profile> {
  const store = resolveStoreKind(options.store, ctx.env, saved);
  if (options.tenant) return fromTenant(ctx, checkUrl("TENANT_URL", options.tenant), store, [options.hints, saved?.tenant ? saved : undefined], saved);
  if (options.issuer && options.clientId) {
    const issuer = checkUrl("--issuer", options.issuer, checkIssuer);
    const redirectUris = options.redirectUris ?? DEFAULT_REDIRECT_URIS;
    for (const uri of redirectUris) checkUrl("--redirect-uri", uri, checkRedirectUri);
    return checked({
      issuer,
      clientId: options.clientId,
      redirectUris,
      scopes: options.scopes ?? DEFAULT_SCOPES,
      store,
      endpoints: await ctx.oauth.discoverEndpoints(issuer, saved),
      ...mergeHints(options.hints),
    });
  }
  if (saved && !saved.tenant) {
    // A profile made with --issuer: nothing to discover.
    checkProfile(saved, ctx.profiles.path(ctx.profileName));
    return { ...saved, store, ...mergeHints(options.hints, saved) };
  }
  return fromTenantSources(ctx, options, saved, store);
}

/** The whole profile, from discovery and OpenID metadata, passes the endpoint policy (exit 5). */
function checked(profile: Profile): Profile {
  checkProfile(profile, "the tenant's configuration", ASK_ADMIN);
  return profile;
}

/**
 * Dev containers, Codespaces, SSH, a console without a display (issue 11, section 4): no browser
 * is opened here; the one screen says how to reach the callback port from the user's own browser
 * and that pasting the address works too, and the login waits for either.
 */
function whereToSignIn(ctx: CommandContext, profile: Profile, noBrowser: boolean): Pick<LoginSettings, "noBrowser" | "headlessHelp"> {
  const place = detectPlace({
    env: ctx.env,
    platform: ctx.platform,
    exists: (path) => ctx.files.exists(path),
    osRelease: ctx.platform === "linux" ? ctx.files.readText("/proc/sys/kernel/osrelease", { trusted: true }) : null,
    callbackPorts: profile.redirectUris.map((u) => (URL.canParse(u) ? Number(new URL(u).port) : 0)).filter((p) => p > 0),
    loginCommand: commandFor("login", ctx.profileName),
  });
  const browser = browserHere(place, ctx.env, ctx.platform);
  if (browser && noBrowser && place.kind === "local") return { noBrowser }; // asked for on a desktop: the plain paste flow
  if (browser && !noBrowser) return { noBrowser };
  return { noBrowser: true, headlessHelp: (port) => signInScreen(place, port) };
}

export async function run(ctx: CommandContext, options: LoginOptions): Promise<number> {
  const saved = await ctx.profiles.read(ctx.profileName);
  // After a logout the hosted page may still remember the last person: show its form (prompt=login).
  // The CA bundle remembered at an earlier login stays (--ca-file, when given, replaces it on write).
  const profile = { ...(await resolveProfile(ctx, options, saved)), ...(saved?.loggedOut ? { loggedOut: true } : {}), ...(saved?.caFile ? { caFile: saved.caFile } : {}) };
  const store = await ctx.openStore(profile.store);
  await probeStore(store); // fail on an unusable store before the user signs in, not after

  const held = await ctx.lock({ timeoutMs: LOCK_TIMEOUT_MS, onWait: () => ctx.say("Another sign-in for this profile is in progress; waiting for it...") });
  try {
    const tokens = await browserLogin(ctx, profile, { ...options, ...whereToSignIn(ctx, profile, options.noBrowser) })();
    await ctx.attempts.clear(ctx.profileName); // an explicit login ends any automatic cool-down
    // A new tenant or client invalidates the old session; same-tenant re-login simply replaces it.
    await saveTokens(store, tokens, ctx.now(), refreshLifetimeMs(profile));
    const { loggedOut: _signedInNow, ...signedIn } = profile; // the form was shown: no prompt=login next time
    await ctx.profiles.write(ctx.profileName, signedIn);
    if (saved && saved.store !== profile.store) {
      // Moving stores: the new copy is written; only now is the old one removed.
      try {
        await clearSession(await ctx.openStore(saved.store, { humanPresent: true }));
        ctx.say(`Moved the session from the ${saved.store} store to the ${profile.store} store.`);
      } catch (e) {
        ctx.say(`agent-runner-auth: warning: could not delete the old tokens from the ${saved.store} store: ${(e as Error).message}`);
      }
    }
    const user = displayUser(jwtClaims(tokens.idToken));
    ctx.say(sanitizeForTerminal(`Logged in${user ? ` as ${user}` : ""} to ${profile.tenant ?? profile.issuer} (profile "${ctx.profileName}", ${store.description}).`));
    return 0;
  } finally {
    held.release();
  }
}
