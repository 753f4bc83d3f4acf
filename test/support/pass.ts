/** A real `pass` store for tests: a gpg key without passphrase in a throwaway GNUPGHOME. */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const created: string[] = [];

/** Stops the gpg-agents the stores started (one per GNUPGHOME), so no test leaves a daemon behind. */
export function stopPassStores(): void {
  for (const home of created.splice(0)) spawnSync("gpgconf", ["--homedir", home, "--kill", "all"]);
}

export function createPassStore(): Record<string, string> {
  const root = mkdtempSync(join(tmpdir(), "ara-pass-"));
  const env = { GNUPGHOME: join(root, "gnupg"), PASSWORD_STORE_DIR: join(root, "store") };
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  };
  spawnSync("mkdir", ["-m", "700", "-p", env.GNUPGHOME]);
  created.push(env.GNUPGHOME);
  run("gpg", ["--batch", "--passphrase", "", "--quick-gen-key", "ci <ci@example.invalid>", "default", "default", "never"]);
  run("pass", ["init", "ci@example.invalid"]);
  return env;
}

export function passShow(env: Record<string, string>, path: string): string | null {
  const r = spawnSync("pass", ["show", path], { env: { ...process.env, ...env }, encoding: "utf8" });
  return r.status === 0 ? r.stdout : null;
}
