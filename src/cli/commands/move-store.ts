/**
 * `move-store <keychain|pass|file>`: moves a profile's session to another secret store without a
 * new login. Copy first (refresh token first), read back and compare, switch the profile, and only
 * then delete the old copy: a failure at any step leaves a working session behind.
 */
import type { CommandContext } from "./context.ts";
import { openProfileStore } from "./context.ts";
import { requireProfile, writeProfile } from "../config.ts";
import { CliError, ExitCode, usageError } from "../errors.ts";
import { isStoreKind, probeStore, type SecretName } from "../store/types.ts";
import { clearSession } from "../session/session.ts";
import { acquireLock } from "../lock.ts";
import { LOCK_TIMEOUT_MS } from "./token.ts";

const ORDER: SecretName[] = ["refresh", "id", "access"];

export async function run(ctx: CommandContext): Promise<number> {
  const target = ctx.args.positionals[0];
  if (ctx.args.positionals.length !== 1 || !target) throw usageError("move-store takes one argument: keychain, pass or file");
  if (!isStoreKind(target)) throw usageError(`unknown store "${target}": use keychain, pass or file`);
  const profile = await requireProfile(ctx.profileName);
  if (profile.store === target) {
    ctx.say(`Profile "${ctx.profileName}" already uses the ${target} store.`);
    return 0;
  }
  const from = await openProfileStore(ctx, profile.store);
  const to = await openProfileStore(ctx, target);
  await probeStore(to);

  const held = await acquireLock(ctx.profileName, { timeoutMs: LOCK_TIMEOUT_MS });
  try {
    const values = new Map<SecretName, string>();
    for (const name of ORDER) {
      const value = await from.get(name);
      if (value !== null) values.set(name, value);
    }
    if (!values.has("refresh") && !values.has("access")) {
      throw new CliError(ExitCode.authRequired, `profile "${ctx.profileName}" has no session in the ${from.kind} store to move`, `Log in with the new store instead: agent-runner-auth login --store ${target}`);
    }
    for (const [name, value] of values) await to.set(name, value);
    for (const [name, value] of values) {
      if ((await to.get(name)) !== value) throw new CliError(ExitCode.storeUnavailable, `the ${target} store did not return the ${name} token as written; nothing was moved`);
    }
    await writeProfile(ctx.profileName, { ...profile, store: target });
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
