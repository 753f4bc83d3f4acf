/**
 * The plaintext file store, only ever used by explicit choice (`--store file`): one file per
 * secret, mode 0600, in a 0700 directory under the platform's data directory.
 */
import { chmodSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "../paths.ts";
import { writeFileAtomic } from "../fs-atomic.ts";
import { CliError, ExitCode } from "../errors.ts";
import type { SecretName, SecretStore } from "./types.ts";

export class FileStore implements SecretStore {
  readonly kind = "file" as const;
  readonly description: string;
  private readonly dir: string;

  constructor(profile: string, root = dataDir()) {
    this.dir = join(root, "tokens", profile);
    this.description = `plaintext files (mode 0600) in ${this.dir}`;
  }

  private path(name: SecretName): string {
    return join(this.dir, `${name}.json`);
  }

  async get(name: SecretName): Promise<string | null> {
    const path = this.path(name);
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new CliError(ExitCode.storeUnavailable, `cannot read ${path}: ${(e as Error).message}`);
    }
  }

  async set(name: SecretName, value: string): Promise<void> {
    try {
      writeFileAtomic(this.path(name), value, { mode: 0o600, dirMode: 0o700 });
      // mkdir's mode is masked by umask and leaves existing directories alone: enforce 0700.
      if (process.platform !== "win32" && (statSync(this.dir).mode & 0o077) !== 0) chmodSync(this.dir, 0o700);
    } catch (e) {
      throw new CliError(ExitCode.storeUnavailable, `cannot write ${this.path(name)}: ${(e as Error).message}`);
    }
  }

  async delete(name: SecretName): Promise<boolean> {
    try {
      unlinkSync(this.path(name));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw new CliError(ExitCode.storeUnavailable, `cannot delete ${this.path(name)}: ${(e as Error).message}`);
    }
  }
}
