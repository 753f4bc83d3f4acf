/** Opens the store a profile uses; each backend is imported only when chosen. */
import type { SecretStore, StoreKind } from "./types.ts";

export interface OpenStoreOptions {
  /** Whether a human may be at a terminal to type a keyring or gpg password (then wait longer). */
  humanPresent: () => boolean;
}

export const STORE_TIMEOUT_MS = 10_000;
export const STORE_HUMAN_TIMEOUT_MS = 120_000;

export async function openStore(kind: StoreKind, profile: string, options: OpenStoreOptions): Promise<SecretStore> {
  switch (kind) {
    case "keychain": {
      const { KeychainStore, fastLookupFor } = await import("./keychain.ts");
      return new KeychainStore(profile, {
        timeoutMs: STORE_TIMEOUT_MS,
        humanTimeoutMs: STORE_HUMAN_TIMEOUT_MS,
        humanPresent: options.humanPresent,
        fastLookup: fastLookupFor(process.platform, process.env),
      });
    }
    case "pass": {
      // pass runs gpg, whose pinentry may need a human: decided once, when pass is used.
      const { PassStore } = await import("./pass.ts");
      return new PassStore(profile, { timeoutMs: options.humanPresent() ? STORE_HUMAN_TIMEOUT_MS : STORE_TIMEOUT_MS });
    }
    case "file": {
      const { FileStore } = await import("./file.ts");
      return new FileStore(profile);
    }
  }
}
