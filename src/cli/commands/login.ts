/** `login`: configure the profile (tenant discovery or explicit issuer) and sign in. */
import type { CommandContext } from "./context.ts";
import { openProfileStore, resolveStoreKind } from "./context.ts";
import { profilePath, readProfile, refreshLifetimeMs, writeProfile, type Profile } from "../config.ts";
import { parseDuration } from "../args.ts";
import { usageError } from "../errors.ts";
import { systemBrowser } from "../browser.ts";
import { interactiveLogin } from "../oauth/login.ts";
import { ASK_ADMIN, checkProfile, discoverEndpoints, fetchTenantDiscovery } from "../oauth/client.ts";
import { checkEndpointUrl, checkRedirectUri, checkTenantUrl, EndpointPolicyError } from "../../shared/endpoint-policy.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";
import { acquireLock } from "../lock.ts";
import { clearSession, saveTokens } from "../session/session.ts";
import { openStore } from "../store/open.ts";
import { probeStore } from "../store/types.ts";
import { clearAttempt } from "../login-cooldown.ts";
import { displayUser, jwtClaims, type TokenSet } from "../session/records.ts";
import { LOCK_TIMEOUT_MS } from "./token.ts";

export const DEFAULT_LOGIN_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_REDIRECT_URIS = ["http://localhost:53682/callback", "http://localhost:53683/callback", "http://localhost:53684/callback"];
export const DEFAULT_SCOPES = ["openid", "email", "profile"];

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

/** Builds the profile from the arguments: tenant discovery, explicit issuer, or the saved one. */
async function resolveProfile(ctx: CommandContext, saved: Profile | null): Promise<Profile> {
  const { args } = ctx;
  const tenantArg = args.positionals[0];
  if (args.positionals.length > 1) throw usageError(`login takes one TENANT_URL, got ${args.positionals.length} arguments`);
  const issuerArg = args.values.issuer;
  const clientId = args.values["client-id"];
  if (tenantArg && (issuerArg || clientId)) throw usageError("give either TENANT_URL or --issuer with --client-id, not both");
  if (Boolean(issuerArg) !== Boolean(clientId)) throw usageError("--issuer and --client-id go together");

  const store = resolveStoreKind(args, saved);
  if (tenantArg) {
    const tenant = checkUrl("TENANT_URL", tenantArg);
    ctx.verbose(`reading the tenant discovery document of ${tenant}`);
    const discovery = await fetchTenantDiscovery(tenant);
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
      endpoints: await discoverEndpoints(issuer),
      ...(client.access_token_lifetime_seconds ? { accessTokenLifetimeSeconds: client.access_token_lifetime_seconds } : {}),
      ...(client.refresh_token_lifetime_seconds ? { refreshTokenLifetimeSeconds: client.refresh_token_lifetime_seconds } : {}),
    });
  }
  if (issuerArg && clientId) {
    const issuer = checkUrl("--issuer", issuerArg, checkIssuer);
    const redirectUris = args.lists["redirect-uri"] ?? DEFAULT_REDIRECT_URIS;
    for (const uri of redirectUris) checkUrl("--redirect-uri", uri, checkRedirectUri);
    return checked({
      issuer,
      clientId,
      redirectUris,
      scopes: args.values.scope ? args.values.scope.split(/\s+/).filter(Boolean) : DEFAULT_SCOPES,
      store,
      endpoints: await discoverEndpoints(issuer),
    });
  }
  if (saved) {
    checkProfile(saved, profilePath(ctx.profileName)); // a hand-edited file: nothing opened or sent
    return { ...saved, store };
  }
  throw usageError("no tenant configured yet", "Run: agent-runner-auth login https://<your-slug>.proxy.<domain>");
}

/** The whole profile, from discovery and OpenID metadata, passes the endpoint policy (exit 5). */
function checked(profile: Profile): Profile {
  checkProfile(profile, "the tenant's configuration", ASK_ADMIN);
  return profile;
}

/** The browser login with this command's options (also the login port of `token`). */
export function browserLogin(ctx: CommandContext, profile: Profile): () => Promise<TokenSet> {
  return () => {
    // `token` logs in with the saved profile: checked before a listener starts or a browser opens.
    checkProfile(profile, profilePath(ctx.profileName));
    return interactiveLogin({
      profile,
      browser: ctx.args.flags["no-browser"] ? null : systemBrowser,
      timeoutMs: loginTimeoutMs(ctx),
      say: ctx.say,
      port: ctx.args.values.port !== undefined ? parsePort(ctx.args.values.port) : undefined,
    });
  };
}

export function loginTimeoutMs(ctx: CommandContext): number {
  return ctx.args.values.timeout ? parseDuration("timeout", ctx.args.values.timeout) : DEFAULT_LOGIN_TIMEOUT_MS;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usageError(`--port must be a port number, got "${text}"`);
  return port;
}

export async function run(ctx: CommandContext): Promise<number> {
  if (ctx.args.values.port !== undefined) parsePort(ctx.args.values.port);
  if (ctx.args.values.timeout !== undefined) parseDuration("timeout", ctx.args.values.timeout);
  const saved = await readProfile(ctx.profileName);
  const profile = await resolveProfile(ctx, saved);
  const store = await openProfileStore(ctx, profile.store);
  await probeStore(store); // fail on an unusable store before the user signs in, not after

  const held = await acquireLock(ctx.profileName, { timeoutMs: LOCK_TIMEOUT_MS, onWait: () => ctx.say("Another sign-in for this profile is in progress; waiting for it...") });
  try {
    const tokens = await browserLogin(ctx, profile)();
    await clearAttempt(ctx.profileName); // an explicit login ends any automatic cool-down
    // A new tenant or client invalidates the old session; same-tenant re-login simply replaces it.
    await saveTokens(store, tokens, Date.now(), refreshLifetimeMs(profile));
    await writeProfile(ctx.profileName, profile);
    if (saved && saved.store !== profile.store) {
      // Moving stores: the new copy is written; only now is the old one removed.
      try {
        await clearSession(await openStore(saved.store, ctx.profileName, { humanPresent: () => true }));
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
