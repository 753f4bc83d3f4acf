/**
 * `admin usage|budget set|budget clear|budget list|limit set|limit clear|limit list|revoke|restore|revocations`:
 * the tenant gateway's admin API (docs/proxy.md). Authenticated by the admin key in
 * --admin-key-file (automation), else by the person's own sign-in (the `token` rules: silent
 * refresh, a browser only where `token` would open one). Parsing, the requests and the output
 * are the gateway use cases' (src/cli/gateway/admin-commands.ts); this is the thin layer.
 * `admin policy check FILE` is offline (src/cli/policy/check.ts, loaded only when it runs);
 * `admin policy show` and `admin policy explain` ask the gateway like the others.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { resolveStoreKind, storeFlag } from "../../context.ts";
import { commandFor, type Profile } from "../../config.ts";
import { ConfigError, usageError } from "../../errors.ts";
import { parseAdminCommand, renderAdmin, runAdmin, type AdminRequest } from "../../gateway/admin-commands.ts";
import { createGatewayClient, type AdminCredential } from "../../gateway/client.ts";
import { sessionAccessToken } from "../../gateway/access-token.ts";
import type { StoreKind } from "../../store/types.ts";
import { parsePolicyCommand, type PolicyCheckRequest } from "../../policy/parse-command.ts";

export interface AdminOptions {
  request: AdminRequest;
  keyFile: string | undefined;
  tenantUrl: string | undefined;
  store: StoreKind | undefined;
}

/** `admin policy check FILE`: no gateway, no credential. */
export interface PolicyOptions {
  policy: PolicyCheckRequest;
}

/** `path` is the command's words: ["admin", "budget", "set"]. */
export function parseOptions(args: ParsedArgs, _env: Env, path: string[] = []): AdminOptions | PolicyOptions {
  if (path[1] === "policy" && path[2] !== "show" && path[2] !== "explain") return { policy: parsePolicyCommand(path.slice(2), args) };
  const request = parseAdminCommand(path.slice(1), args);
  const keyFile = args.values["admin-key-file"];
  const tenantUrl = args.values["tenant-url"];
  if (keyFile === "") throw usageError("--admin-key-file needs the path of the file that holds the admin key");
  // a person's own token goes only to the tenant it was issued for
  if (tenantUrl !== undefined && keyFile === undefined) throw usageError("--tenant-url goes with --admin-key-file; your own sign-in is used with your profile's tenant");
  return { request, keyFile, tenantUrl, store: storeFlag(args) };
}

function tenantOf(profile: Profile, profileName: string): string {
  if (profile.tenant) return profile.tenant;
  throw new ConfigError(`profile "${profileName}" has no tenant URL (it was set up with --issuer), so there is no gateway to ask`, "Log in with the tenant URL: agent-runner-auth login https://<slug>.proxy.<domain>");
}

async function credentialFor(ctx: CommandContext, options: AdminOptions): Promise<{ tenantUrl: string; credential: AdminCredential; profile: Profile | null }> {
  if (options.keyFile !== undefined) {
    const key = ctx.gateway.readAdminKey(options.keyFile); // a bad key file fails before any request
    if (options.tenantUrl !== undefined) return { tenantUrl: options.tenantUrl, credential: { kind: "admin_key", key }, profile: null };
    const profile = await ctx.profiles.read(ctx.profileName);
    if (!profile) throw usageError(`no tenant: profile "${ctx.profileName}" does not exist`, "Give --tenant-url https://<slug>.proxy.<domain> with --admin-key-file.");
    return { tenantUrl: tenantOf(profile, ctx.profileName), credential: { kind: "admin_key", key }, profile };
  }
  const profile = await ctx.profiles.require(ctx.profileName);
  const tenantUrl = tenantOf(profile, ctx.profileName);
  const store = await ctx.openStore(resolveStoreKind(options.store, ctx.env, profile));
  return { tenantUrl, credential: { kind: "token", accessToken: sessionAccessToken(ctx, profile, store, { interactive: true }) }, profile };
}

export async function run(ctx: CommandContext, options: AdminOptions | PolicyOptions): Promise<number> {
  if ("policy" in options) {
    const { checkPolicy } = await import("../../policy/check.ts");
    return checkPolicy({ readText: (path) => ctx.files.readText(path, { trusted: true }), stdout: ctx.stdout, say: ctx.say }, options.policy);
  }
  const { tenantUrl, credential, profile } = await credentialFor(ctx, options);
  ctx.verbose(`asking the gateway of ${tenantUrl} (${credential.kind === "admin_key" ? "admin key" : "your sign-in"})`);
  const client = createGatewayClient({ tenantUrl, http: ctx.gateway.http(profile), loginCommand: commandFor("login", ctx.profileName) });
  const rendered = renderAdmin(options.request, await runAdmin(client.admin(credential), options.request));
  if (rendered.stdout !== "") ctx.stdout(rendered.stdout);
  if (rendered.stderr !== "") ctx.say(rendered.stderr.trimEnd());
  return 0;
}
