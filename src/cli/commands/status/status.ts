/** `status`: who is signed in where, and until when. Exit 0 only with a usable session. */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { resolveStoreKind, storeFlag } from "../../context.ts";
import { commandFor } from "../../config.ts";
import { decodeAccess, decodeRefresh, displayUser, jwtClaims } from "../../session/records.ts";
import { jsonForTerminal, sanitizeForTerminal } from "../../terminal-text.ts";
import type { StoreKind } from "../../store/types.ts";

export interface StatusOptions {
  store: StoreKind | undefined;
  json: boolean;
}

export function parseOptions(args: ParsedArgs, _env: Env): StatusOptions {
  return { store: storeFlag(args), json: Boolean(args.flags.json) };
}

export interface StatusReport {
  profile: string;
  /** Why this profile applies here (--profile, AGENT_RUNNER_PROFILE, a directory file, the default). */
  profile_reason: string;
  tenant: string | null;
  issuer: string;
  client_id: string;
  store: string;
  store_description: string;
  user: string | null;
  email: string | null;
  groups: string[];
  access_token_expires_at: string | null;
  access_token_valid: boolean;
  refresh_token_present: boolean;
  /** The end of the session: sign-in + the refresh token lifetime (a rotated refresh token keeps it). */
  refresh_token_expires_at: string | null;
  /** When this session was signed in (kept across refresh-token rotations). */
  signed_in_at: string | null;
  logged_in: boolean;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function inWords(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s >= 86400 ? `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h` : s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min` : `${s} s`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export async function run(ctx: CommandContext, options: StatusOptions): Promise<number> {
  const profile = await ctx.profiles.require(ctx.profileName);
  const store = await ctx.openStore(resolveStoreKind(options.store, ctx.env, profile));
  const now = ctx.now();
  const access = decodeAccess(await store.get("access"));
  const refresh = decodeRefresh(await store.get("refresh"));
  const claims = jwtClaims(await store.get("id"));
  const refreshUsable = refresh !== null && (refresh.expiresAt === undefined || refresh.expiresAt > now);
  const accessValid = access !== null && access.expiresAt > now;
  const groups = claims?.["cognito:groups"];
  const report: StatusReport = {
    profile: ctx.profileName,
    profile_reason: ctx.profileReason,
    tenant: profile.tenant ?? null,
    issuer: profile.issuer,
    client_id: profile.clientId,
    store: store.kind,
    store_description: store.description,
    user: displayUser(claims) ?? null,
    email: typeof claims?.email === "string" ? claims.email : null,
    groups: Array.isArray(groups) ? groups.map(String) : [],
    access_token_expires_at: iso(access?.expiresAt),
    access_token_valid: accessValid,
    refresh_token_present: refresh !== null,
    refresh_token_expires_at: iso(refresh?.expiresAt),
    signed_in_at: iso(refresh ? (refresh.signedInAt ?? refresh.issuedAt) : undefined),
    logged_in: accessValid || refreshUsable,
  };

  if (options.json) {
    ctx.stdout(jsonForTerminal(report));
  } else {
    // Names, emails and groups come from the ID token, URLs from a file: shown, never obeyed.
    const line = (label: string, value: string) => ctx.say(`  ${label.padEnd(15)}${sanitizeForTerminal(value)}`);
    ctx.say(`Profile "${report.profile}": ${report.logged_in ? "logged in" : "not logged in"}`);
    line("Applies here", report.profile_reason);
    line("Tenant", report.tenant ?? "(none: explicit issuer)");
    line("Issuer", report.issuer);
    line("User", report.user ? `${report.user}${report.email && report.email !== report.user ? ` <${report.email}>` : ""}` : "-");
    if (report.groups.length > 0) line("Groups", report.groups.join(", "));
    line("Access token", access ? `${accessValid ? "valid" : "expired"}, expires ${inWords(access.expiresAt - now)} (${report.access_token_expires_at})` : "none");
    if (refresh && report.signed_in_at) line("Signed in", `${inWords((refresh.signedInAt ?? refresh.issuedAt) - now)} (${report.signed_in_at})`);
    line("Refresh token", refresh ? (refresh.expiresAt ? `expires ${inWords(refresh.expiresAt - now)} (${report.refresh_token_expires_at})` : "present (expiry not published by the tenant)") : "none");
    line("Store", report.store_description);
    if (!report.logged_in) ctx.say(`Run: ${commandFor("login", ctx.profileName)}`);
  }
  return report.logged_in ? 0 : 1;
}
