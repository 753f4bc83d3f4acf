/** The narrow interface every secret store implements; one instance serves one profile. */

export const STORE_KINDS = ["keychain", "pass", "file"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** Tokens are separate entries so the cached path reads just one; "probe" checks the store works. */
export type SecretName = "access" | "refresh" | "id" | "probe";

export interface SecretStore {
  readonly kind: StoreKind;
  /** Human description for status/doctor, e.g. "Secret Service" or a directory path. */
  readonly description: string;
  get(name: SecretName): Promise<string | null>;
  set(name: SecretName, value: string): Promise<void>;
  /** Resolves false when there was nothing to delete. */
  delete(name: SecretName): Promise<boolean>;
}

export function isStoreKind(value: string): value is StoreKind {
  return (STORE_KINDS as readonly string[]).includes(value);
}

/**
 * Proves the store can write, read and delete (a locked keyring may read "nothing" without
 * error, and fail only on write): run before a login, so a user never signs in for nothing.
 */
export async function probeStore(store: SecretStore): Promise<void> {
  const value = `probe-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await store.set("probe", value);
  const read = await store.get("probe");
  await store.delete("probe");
  if (read !== value) {
    const { StoreUnavailableError } = await import("../errors.ts");
    throw new StoreUnavailableError(`the ${store.kind} store returned a different value than was written`, "Check the store (is the keyring unlocked? does pass/gpg work?), or choose another with --store.");
  }
}
