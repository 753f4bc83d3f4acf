/**
 * `move-store <keychain|pass|file>`: moves a profile's session to another secret store without a
 * new login. Copy first (refresh token first), read back and compare, switch the profile, and only
 * then delete the old copy: a failure at any step leaves a working session behind.
 */
import type { ParsedArgs } from "../../args.ts";
import type { CommandContext, Env } from "../../context.ts";
import { AuthRequiredError, StoreUnavailableError, usageError } from "../../errors.ts";
import { isStoreKind, probeStore, type SecretName, type StoreKind } from "../../store/types.ts";
import { clearSession } from "../../session/session.ts";
import { LOCK_TIMEOUT_MS } from "../../session/interactive-login.ts";

const ORDER: SecretName[] = ["refresh", "id", "access"];

export interface MoveStoreOptions {
  target: StoreKind;
}

export function parseOptions(args: ParsedArgs, _env: Env): MoveStoreOptions {
  const target = args.positionals[0];
  if (args.positionals.length !== 1 || !target) throw usageError("move-store takes one argument: keychain, pass or file");
  if (!isStoreKind(target)) throw usageError(`unknown store "${target}": use keychain, pass or file`);
  return { target };
}

export async function run(ctx: CommandContext, { target }: MoveStoreOptions): Promise<number> {
  const profile = await ctx.profiles.require(ctx.profileName);
  if (profile.store === target) {
    ctx.say(`Profile "${ctx.profileName}" already uses the ${target} store.`);
    return 0;
  }
  const from = await ctx.openStore(profile.store);
  const to = await ctx.openStore(target);
  await probeStore(to);

  const held = await ctx.lock({ timeoutMs: LOCK_TIMEOUT_MS });
  try {
    const values = new Map<SecretName, string>();
    for (const name of ORDER) {
      const value = await from.get(name);
      if (value !== null) values.set(name, value);
    }
    if (!values.has("refresh") && !values.has("access")) {
      throw new AuthRequiredError(`profile "${ctx.profileName}" has no session in the ${from.kind} store to move`, `Log in with the new store instead: agent-runner-auth login --store ${target}`);
    }
    for (const [name, value] of values) await to.set(name, value);
    for (const [name, value] of values) {
      if ((await to.get(name)) !== value) throw new StoreUnavailableError(`the ${target} store did not return the ${name} token as written; nothing was moved`);
    }
    await ctx.profiles.write(ctx.profileName, { ...profile, store: target });
    try {
      await clearSession(from);
    } catch (e) {
      ctx.say(`agent-runner-auth: warning: the session now lives in the ${target} store, but the old copy could not be deleted: ${(e as Error).message}`);
    }
    ctx.say(`Moved profile "${ctx.profileName}" from the ${from.kind} store to the ${target} store.`);
    return 0;
  } finally {
    held.release();
  }
}
