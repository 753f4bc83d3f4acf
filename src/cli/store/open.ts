/** Opens the store a profile uses; each backend is imported only when chosen. */
import type { SecretStore, StoreKind } from "./types.ts";

export interface OpenStoreOptions {
  /** A human may be at a terminal to type a keyring or gpg password: wait longer. */
  humanPresent: boolean;
}

export async function openStore(kind: StoreKind, profile: string, options: OpenStoreOptions): Promise<SecretStore> {
  const timeoutMs = options.humanPresent ? 120_000 : 10_000;
  switch (kind) {
    case "keychain": {
      const { KeychainStore } = await import("./keychain.ts");
      return new KeychainStore(profile, { timeoutMs });
    }
    case "pass": {
      const { PassStore } = await import("./pass.ts");
      return new PassStore(profile, { timeoutMs });
    }
    case "file": {
      const { FileStore } = await import("./file.ts");
      return new FileStore(profile);
    }
  }
}
