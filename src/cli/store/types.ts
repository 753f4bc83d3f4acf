/** The narrow interface every secret store implements; one instance serves one profile. */

export const STORE_KINDS = ["keychain", "pass", "file"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** Tokens are separate entries so the cached path reads just one. */
export type SecretName = "access" | "refresh" | "id";

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
