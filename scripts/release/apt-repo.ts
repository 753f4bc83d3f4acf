/**
 * The signed apt repository (apt/): pool, Packages per architecture, Release, InRelease and
 * Release.gpg, and the archive keyring. Signed with RELEASE_GPG_KEY (an id or e-mail in the
 * current GNUPGHOME); without it, a throwaway key (and the run says so).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { run, type ReleaseContext } from "./context.ts";

export const APT_ARCHITECTURES = ["amd64", "arm64"] as const;

/** apt-ftparchive's `-o` options for the Release file of the `stable` suite. */
export function releaseFileOptions(version: string): string[] {
  const fields: [string, string][] = [
    ["Origin", "agent-runner"],
    ["Label", "agent-runner"],
    ["Suite", "stable"],
    ["Codename", "stable"],
    ["Architectures", APT_ARCHITECTURES.join(" ")],
    ["Components", "main"],
    ["Description", `agent-runner-auth ${version}`],
  ];
  return fields.flatMap(([name, value]) => ["-o", `APT::FTPArchive::Release::${name}=${value}`]);
}

interface SigningKey {
  env: Record<string, string>;
  id: string;
}

/** The signing key: RELEASE_GPG_KEY from the caller's keyring, or a throwaway one (said loudly). */
function signingKey(ctx: ReleaseContext, env: NodeJS.ProcessEnv, warn: (line: string) => void): SigningKey {
  if (env.RELEASE_GPG_KEY) return { env: {}, id: env.RELEASE_GPG_KEY };
  const home = mkdtempSync(join(tmpdir(), "release-gpg-"));
  chmodSync(home, 0o700);
  const keyEnv = { GNUPGHOME: home };
  run(ctx.root, "gpg", ["--batch", "--passphrase", "", "--quick-gen-key", "agent-runner apt test key <apt-test@agent-runner.invalid>", "rsa3072", "sign", "1d"], { env: keyEnv });
  warn("release: RELEASE_GPG_KEY is not set: the apt repository is signed with a throwaway key (fine for tests, not for publishing)");
  return { env: keyEnv, id: "apt-test@agent-runner.invalid" };
}

export function buildAptRepository(ctx: ReleaseContext, debs: string[], env: NodeJS.ProcessEnv, warn: (line: string) => void): void {
  const repo = join(ctx.out, "apt");
  rmSync(repo, { recursive: true, force: true });
  const pool = join(repo, "pool", "main", "a", "agent-runner-auth");
  mkdirSync(pool, { recursive: true });
  for (const deb of debs) copyFileSync(deb, join(pool, basename(deb)));
  for (const arch of APT_ARCHITECTURES) {
    const dir = join(repo, "dists", "stable", "main", `binary-${arch}`);
    mkdirSync(dir, { recursive: true });
    const packages = run(ctx.root, "apt-ftparchive", ["--arch", arch, "packages", "pool"], { cwd: repo });
    writeFileSync(join(dir, "Packages"), packages);
    writeFileSync(join(dir, "Packages.gz"), gzipSync(packages, { level: 9 }));
  }
  const release = run(ctx.root, "apt-ftparchive", [...releaseFileOptions(ctx.version), "release", "dists/stable"], { cwd: repo });
  const releaseFile = join(repo, "dists", "stable", "Release");
  writeFileSync(releaseFile, release);
  const key = signingKey(ctx, env, warn);
  const gpg = (args: string[]) => run(ctx.root, "gpg", ["--batch", "--yes", ...args], { env: key.env });
  try {
    gpg(["--local-user", key.id, "--clearsign", "--output", join(repo, "dists", "stable", "InRelease"), releaseFile]);
    gpg(["--local-user", key.id, "--armor", "--detach-sign", "--output", join(repo, "dists", "stable", "Release.gpg"), releaseFile]);
    gpg(["--export", "--output", join(repo, "agent-runner-archive-keyring.gpg"), key.id]);
    gpg(["--armor", "--export", "--output", join(repo, "agent-runner-archive-keyring.asc"), key.id]);
  } finally {
    // A throwaway key's gpg-agent must not outlive the release run.
    if (key.env.GNUPGHOME) spawnSync("gpgconf", ["--homedir", key.env.GNUPGHOME, "--kill", "all"]);
  }
}
