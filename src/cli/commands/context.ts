/** What every command needs: its parsed arguments, the profile, the store, and stderr output. */
import type { ParsedArgs } from "../args.ts";
import { DEFAULT_PROFILE, validateProfileName, type Profile } from "../config.ts";
import { usageError } from "../errors.ts";
import { isStoreKind, type SecretStore, type StoreKind } from "../store/types.ts";
import { openStore } from "../store/open.ts";

export interface CommandContext {
  args: ParsedArgs;
  profileName: string;
  /** A status line on stderr. */
  say(line: string): void;
  /** A step, on stderr with --verbose only. Never pass a secret. */
  verbose(line: string): void;
}

export function resolveProfileName(args: ParsedArgs): string {
  return validateProfileName(args.values.profile ?? (process.env.AGENT_RUNNER_PROFILE || DEFAULT_PROFILE));
}

/** --store, else the profile's remembered choice, else $AGENT_RUNNER_AUTH_STORE, else keychain. */
export function resolveStoreKind(args: ParsedArgs, profile: Profile | null): StoreKind {
  const fromFlag = args.values.store;
  const fromEnv = process.env.AGENT_RUNNER_AUTH_STORE || undefined;
  for (const [value, source] of [
    [fromFlag, "--store"],
    [fromEnv, "AGENT_RUNNER_AUTH_STORE"],
  ] as const) {
    if (value !== undefined && !isStoreKind(value)) throw usageError(`${source} must be keychain, pass or file, got "${value}"`);
  }
  return (fromFlag ?? profile?.store ?? fromEnv ?? "keychain") as StoreKind;
}

export async function openProfileStore(ctx: CommandContext, kind: StoreKind): Promise<SecretStore> {
  const store = await openStore(kind, ctx.profileName, { humanPresent: terminalCheck });
  if (kind === "file") ctx.say(`agent-runner-auth: using the file store: ${store.description}`);
  ctx.verbose(`store: ${store.description}`);
  return store;
}

/** Loaded on demand: environment.ts needs node:fs, which the cached token path avoids. */
function terminalCheck(): boolean {
  return (require("../environment.ts") as typeof import("../environment.ts")).hasControllingTerminal();
}
