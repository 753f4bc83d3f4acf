/**
 * `doctor`: checks everything between Claude Code and the tenant and explains each failure with
 * its fix. Never opens a browser and never spends model tokens (the proxy check is a GET of
 * /v1/models; count_tokens is free) unless --deep, which streams one output token. Exit 0 only
 * when every check passes (warnings allowed); --json for scripts.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { commandFor, type Profile } from "../../config.ts";
import { CliError } from "../../errors.ts";
import { VERSION, COMMIT } from "../../version.ts";
import { probeStore, type SecretStore } from "../../store/types.ts";
import { decodeAccess, decodeRefresh } from "../../session/records.ts";
import { CONFLICTING_ENV, parseSettings, settingsPath, SCOPES, isOurHelper, helperCommand, tenantBaseUrl, type Scope } from "../../claude/settings.ts";
import { checkProfile } from "../../oauth/client.ts";
import { checkEndpointUrl } from "../../../shared/endpoint-policy.ts";
import { jsonForTerminal, sanitizeForTerminal } from "../../terminal-text.ts";
import { gatewayChecks, refusalAdvice, type StreamProbe } from "./gateway-checks.ts";
import type { Check, Verdict } from "./check.ts";
import { desktopCheck, placeCheck, type SurfaceFacts } from "./surface-checks.ts";

export interface DoctorOptions {
  json: boolean;
  /** Also the one-token streamed request (gateway-checks.ts). */
  deep?: boolean;
}

export function parseOptions(args: ParsedArgs, _env: Env): DoctorOptions {
  return { json: Boolean(args.flags.json), deep: Boolean(args.flags.deep) };
}

/** The side effects of the gateway and surface checks (real adaptors by default; fakes in tests). */
export interface DoctorPorts {
  stream?: StreamProbe;
  facts?: SurfaceFacts;
}

async function realFacts(): Promise<SurfaceFacts> {
  const { nodeExists, nodeReadText } = await import("../../surfaces/ports.ts");
  const { posix, win32 } = await import("node:path");
  let osRelease: string | null = null;
  try {
    osRelease = nodeReadText("/proc/sys/kernel/osrelease", { trusted: true });
  } catch {}
  return { platform: process.platform, osRelease, exists: nodeExists, read: (path) => nodeReadText(path, { trusted: true }), join: (platform, ...parts) => (platform === "win32" ? win32 : posix).join(...parts) };
}

async function realStream(ctx: CommandContext, profile: Profile): Promise<StreamProbe> {
  const { timedReads } = await import("../../oauth/bounded-fetch.ts");
  return (url, init) => timedReads((signal) => ctx.oauth.stream(url, { ...init, signal }, profile), url, { timeoutMs: 30_000, maxBytes: 64 * 1024 });
}


const SYMBOL: Record<Verdict, string> = { pass: "✓", warn: "!", fail: "✗", skip: "-" };
const COLOUR: Record<Verdict, string> = { pass: "32", warn: "33", fail: "31", skip: "90" };

async function timed<T>(now: () => number, run: () => Promise<T>): Promise<[T, number]> {
  const started = now();
  const value = await run();
  return [value, Math.round(now() - started)];
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function runChecks(ctx: CommandContext, options: { deep?: boolean } = {}, ports: DoctorPorts = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (check: Check) => checks.push(check);
  const login = commandFor("login", ctx.profileName);

  add({ name: "binary", verdict: "pass", detail: `agent-runner-auth ${VERSION} (${COMMIT}) at ${ctx.self().join(" ")}` });

  let profile: Profile | null = null;
  /** A profile whose URLs break the endpoint policy: nothing is sent to them. */
  let unsafe = false;
  try {
    profile = await ctx.profiles.read(ctx.profileName);
    if (profile) checkProfile(profile, ctx.profiles.path(ctx.profileName));
    if (profile) add({ name: "profile", verdict: "pass", detail: `"${ctx.profileName}": tenant ${profile.tenant ?? "(none)"}, issuer ${profile.issuer}, store ${profile.store}` });
    else add({ name: "profile", verdict: "fail", detail: `no profile "${ctx.profileName}"`, fix: commandFor("login <tenant URL>", ctx.profileName) });
  } catch (e) {
    unsafe = profile !== null; // read, but refused by the endpoint policy
    add({ name: "profile", verdict: "fail", detail: message(e), fix: e instanceof CliError ? e.hint : undefined });
  }

  let store: SecretStore | null = null;
  if (profile) {
    try {
      store = await ctx.openStore(profile.store, { quiet: true });
      const [, ms] = await timed(ctx.now, () => probeStore(store!));
      add({ name: "store", verdict: "pass", detail: `${store.description}: write, read and delete work (${ms} ms)` });
    } catch (e) {
      store = null;
      add({ name: "store", verdict: "fail", detail: message(e), fix: e instanceof CliError ? e.hint : undefined });
    }
  } else add({ name: "store", verdict: "skip", detail: "no profile" });

  let sessionUsable = false;
  if (store) {
    try {
      const now = ctx.now();
      const access = decodeAccess(await store.get("access"));
      const refresh = decodeRefresh(await store.get("refresh"));
      const accessText = access ? (access.expiresAt > now ? `access token valid for ${Math.round((access.expiresAt - now) / 60_000)} min` : "access token expired") : "no access token";
      const refreshText = refresh ? (refresh.expiresAt ? `refresh token until ${new Date(refresh.expiresAt).toISOString()}` : "refresh token present") : "no refresh token";
      sessionUsable = Boolean((access && access.expiresAt > now) || (refresh && (!refresh.expiresAt || refresh.expiresAt > now)));
      add({ name: "session", verdict: sessionUsable ? "pass" : "fail", detail: `${accessText}; ${refreshText}`, ...(sessionUsable ? {} : { fix: login }) });
    } catch (e) {
      add({ name: "session", verdict: "fail", detail: message(e) });
    }
  } else add({ name: "session", verdict: "skip", detail: "no usable store" });

  if (profile && !unsafe) {
    const url = `${profile.issuer}/.well-known/openid-configuration`;
    try {
      const [response, ms] = await timed(ctx.now, () => ctx.oauth.fetch(url, undefined, profile));
      const serverDate = Date.parse(response.headers.get("date") ?? "");
      const skew = Number.isFinite(serverDate) ? Math.round((ctx.now() - serverDate) / 1000) : null;
      const skewText = skew === null ? "clock skew unknown (no Date header)" : `clock skew ${skew >= 0 ? "+" : ""}${skew} s`;
      if (!response.ok) add({ name: "identity provider", verdict: "fail", detail: `${url} answered HTTP ${response.status}` });
      else add({ name: "identity provider", verdict: skew !== null && Math.abs(skew) > 300 ? "warn" : "pass", detail: `reachable (${ms} ms), ${skewText}`, ...(skew !== null && Math.abs(skew) > 300 ? { fix: "Sync this machine's clock (timedatectl set-ntp true); tokens still work, but other tools may not" } : {}) });
    } catch (e) {
      add({ name: "identity provider", verdict: "fail", detail: `cannot reach ${url}: ${message(e)}`, fix: "Check your network, VPN, HTTPS_PROXY and NODE_EXTRA_CA_CERTS" });
    }
  } else add({ name: "identity provider", verdict: "skip", detail: unsafe ? "the profile is refused (see above)" : "no profile" });

  if (profile?.tenant && store && sessionUsable && !unsafe) {
    const url = `${tenantBaseUrl(profile.tenant)}/v1/models`;
    try {
      checkEndpointUrl("the proxy URL", url); // before the token is read (or refreshed), not only before it is sent
      const { acquireToken } = await import("../../session/acquire-token.ts");
      const token = (await acquireToken(ctx, profile, store, { validityMs: 60_000, loginBlocker: "doctor never opens a browser", warn: () => {}, lockTimeoutMs: 30_000 })).access.token;
      const [response, ms] = await timed(ctx.now, () => ctx.oauth.fetch(url, { headers: { authorization: `Bearer ${token}`, "anthropic-version": "2023-06-01" } }, profile));
      if (response.ok) {
        add({ name: "proxy", verdict: "pass", detail: `${profile.tenant} accepts the token (GET /v1/models: ${response.status}, ${ms} ms)` });
        const models = (await response.json().catch(() => null)) as { data?: { id?: unknown }[] } | null;
        const model = typeof models?.data?.[0]?.id === "string" ? models.data[0].id : "claude-sonnet-4-5";
        for (const check of await gatewayChecks(ctx, profile, tenantBaseUrl(profile.tenant), token, model, Boolean(options.deep), ports.stream ?? (await realStream(ctx, profile)))) add(check);
      } else {
        const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
        const advice = refusalAdvice(response.headers, login);
        if (advice) add({ name: "proxy", verdict: "fail", detail: `${url} answered ${response.status}: ${advice.detail}`, fix: advice.fix });
        else add({ name: "proxy", verdict: "fail", detail: `${url} answered ${response.status}: ${body?.error?.message ?? response.statusText}`, fix: response.status === 401 ? login : undefined });
      }
    } catch (e) {
      add({ name: "proxy", verdict: "fail", detail: message(e), fix: e instanceof CliError ? e.hint : undefined });
    }
  } else add({ name: "proxy", verdict: "skip", detail: unsafe ? "the profile is refused (see above)" : profile && !profile.tenant ? "the profile has no tenant URL" : "no usable session" });

  // Claude Code's settings: the effective values, local over project over user.
  const effective: { helper?: unknown; baseUrl?: unknown; ttl?: unknown; from: Partial<Record<"helper" | "baseUrl" | "ttl", Scope>> } = { from: {} };
  for (const scope of SCOPES) {
    const path = settingsPath(scope, ctx.env, ctx.cwd);
    let text: string;
    try {
      text = await Bun.file(path).text();
    } catch {
      continue;
    }
    try {
      const settings = parseSettings(text);
      const env = (settings.env ?? {}) as Record<string, unknown>;
      if (settings.apiKeyHelper !== undefined) [effective.helper, effective.from.helper] = [settings.apiKeyHelper, scope];
      if (env.ANTHROPIC_BASE_URL !== undefined) [effective.baseUrl, effective.from.baseUrl] = [env.ANTHROPIC_BASE_URL, scope];
      if (env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS !== undefined) [effective.ttl, effective.from.ttl] = [env.CLAUDE_CODE_API_KEY_HELPER_TTL_MS, scope];
      for (const name of CONFLICTING_ENV) {
        if (env[name] !== undefined) add({ name: "claude settings", verdict: "fail", detail: `${path} sets env.${name}, which overrides the apiKeyHelper`, fix: `Remove env.${name} from ${path}` });
      }
    } catch (e) {
      add({ name: "claude settings", verdict: "fail", detail: `${path} is not valid JSON (${message(e)})`, fix: `Fix ${path}` });
    }
  }
  const setupFix = commandFor("setup claude", ctx.profileName);
  const expectedHelper = helperCommand(ctx.self(), ctx.profileName);
  if (!profile) add({ name: "claude settings", verdict: "skip", detail: "no profile to compare with" });
  else if (!profile.tenant) {
    // A profile made with --issuer: the gateway's address is whatever `setup claude --base-url` wrote.
    const baseUrlFix = `${setupFix} --base-url https://<slug>.proxy.<domain>/anthropic/v1`;
    if (typeof effective.baseUrl !== "string") add({ name: "claude settings", verdict: "fail", detail: "Claude Code is not configured for a gateway (no ANTHROPIC_BASE_URL), and this profile has no tenant URL to derive it from", fix: baseUrlFix });
    else if (!isOurHelper(effective.helper)) add({ name: "claude settings", verdict: "fail", detail: effective.helper ? `apiKeyHelper is ${JSON.stringify(effective.helper)} (${effective.from.helper} settings), not this CLI` : "no apiKeyHelper", fix: baseUrlFix });
    else add({ name: "claude settings", verdict: "pass", detail: `${effective.from.baseUrl} settings point at ${effective.baseUrl} (no tenant URL in this profile to compare with) with this binary as apiKeyHelper` });
  }
  else if (effective.baseUrl !== tenantBaseUrl(profile.tenant)) {
    add({ name: "claude settings", verdict: "fail", detail: effective.baseUrl ? `ANTHROPIC_BASE_URL is ${JSON.stringify(effective.baseUrl)} (${effective.from.baseUrl} settings), not this tenant` : "Claude Code is not configured for this tenant (no ANTHROPIC_BASE_URL)", fix: setupFix });
  } else if (!isOurHelper(effective.helper)) {
    add({ name: "claude settings", verdict: "fail", detail: effective.helper ? `apiKeyHelper is ${JSON.stringify(effective.helper)} (${effective.from.helper} settings), not this CLI` : "no apiKeyHelper", fix: setupFix });
  } else if (effective.helper !== expectedHelper) {
    add({ name: "claude settings", verdict: "warn", detail: `apiKeyHelper is ${JSON.stringify(effective.helper)}, expected ${JSON.stringify(expectedHelper)} (another copy or profile?)`, fix: setupFix });
  } else add({ name: "claude settings", verdict: "pass", detail: `${effective.from.baseUrl} settings point at ${tenantBaseUrl(profile.tenant)} with this binary as apiKeyHelper` });

  const facts = ports.facts ?? (await realFacts());
  add(placeCheck(ctx, profile, facts));
  const desktop = desktopCheck(ctx, profile, facts);
  if (desktop) add(desktop);

  const conflicts = CONFLICTING_ENV.filter((name) => ctx.env[name]);
  add(conflicts.length === 0 ? { name: "environment", verdict: "pass", detail: "neither ANTHROPIC_API_KEY nor ANTHROPIC_AUTH_TOKEN is set" } : { name: "environment", verdict: "fail", detail: `${conflicts.join(" and ")} ${conflicts.length > 1 ? "are" : "is"} set and override${conflicts.length > 1 ? "" : "s"} the apiKeyHelper`, fix: `unset ${conflicts.join(" ")} (and remove ${conflicts.length > 1 ? "them" : "it"} from your shell profile)` });

  const lifetimeS = profile?.accessTokenLifetimeSeconds;
  const ttl = Number(effective.ttl);
  if (effective.ttl === undefined) add({ name: "helper TTL", verdict: "warn", detail: "CLAUDE_CODE_API_KEY_HELPER_TTL_MS is not set: Claude Code calls the helper every 5 min", fix: setupFix });
  else if (!Number.isFinite(ttl) || ttl <= 0) add({ name: "helper TTL", verdict: "fail", detail: `CLAUDE_CODE_API_KEY_HELPER_TTL_MS is ${JSON.stringify(effective.ttl)}, not a number of milliseconds`, fix: setupFix });
  else if (lifetimeS && ttl >= lifetimeS * 1000) add({ name: "helper TTL", verdict: "fail", detail: `the TTL (${Math.round(ttl / 1000)} s) is not shorter than the access token's lifetime (${lifetimeS} s): Claude Code would keep using an expired token`, fix: setupFix });
  else add({ name: "helper TTL", verdict: "pass", detail: `${Math.round(ttl / 1000)} s${lifetimeS ? `, under the ${lifetimeS} s token lifetime` : ""}; token serves only tokens valid for the TTL + 2 min` });

  return checks;
}

export async function run(ctx: CommandContext, options: DoctorOptions, ports: DoctorPorts = {}): Promise<number> {
  const checks = await runChecks(ctx, options, ports);
  const ok = checks.every((c) => c.verdict !== "fail");
  if (options.json) {
    ctx.stdout(jsonForTerminal({ ok, profile: ctx.profileName, checks }));
  } else {
    const colour = ctx.terminal.stderrIsTerminal() && !ctx.env.NO_COLOR;
    const width = Math.max(...checks.map((c) => c.name.length));
    for (const c of checks) {
      const mark = colour ? `\x1b[${COLOUR[c.verdict]}m${SYMBOL[c.verdict]}\x1b[0m` : SYMBOL[c.verdict];
      // Details quote the IdP, the proxy and settings files: shown, never obeyed (only our colours are).
      ctx.say(`${mark} ${c.name.padEnd(width)}  ${sanitizeForTerminal(c.detail)}`);
      if (c.fix && c.verdict !== "pass") ctx.say(`  ${" ".repeat(width)}  fix: ${sanitizeForTerminal(c.fix)}`);
    }
    ctx.say(ok ? "All checks passed." : `${checks.filter((c) => c.verdict === "fail").length} check(s) failed.`);
  }
  return ok ? 0 : 1;
}
