/**
 * `npm run release` (scripts/release.ts): every artifact the install channels need, from one
 * command, into dist/release/:
 *   - single-file binaries for linux-x64, linux-arm64, darwin-arm64, darwin-x64, windows-x64, each
 *     with its platform's keyring addon embedded, in archives named
 *     agent-runner-auth_<version>_<os>_<arch>.tar.gz (.zip for Windows), with the man page,
 *     shell completions, LICENSE and README (archives.ts);
 *   - .deb packages (amd64, arm64) and a signed apt repository tree, apt/ (deb.ts, apt-repo.ts);
 *   - the Homebrew formula, homebrew/Formula/agent-runner-auth.rb (homebrew.ts);
 *   - the winget manifests, winget/manifests/c/copebit/AgentRunnerAuth/<version>/ (winget.ts);
 *   - npm packages: a launcher plus one package per platform, npm/*.tgz (npm.ts);
 *   - SHA256SUMS, and manifest.json with sizes.
 * Each module renders its artefact from plain data (unit-tested beside it) and writes it; only
 * this one sequences the run. Signing: see apt-repo.ts; macOS and Windows code signing happen
 * elsewhere (docs/releasing.md).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { buildAptRepository } from "./apt-repo.ts";
import { buildArchives, renderSha256Sums } from "./archives.ts";
import { buildBinaries, renderManifest } from "./binaries.ts";
import { binaryName, TARGETS, type ReleaseContext } from "./context.ts";
import { buildDeb } from "./deb.ts";
import { writeHomebrewFormula } from "./homebrew.ts";
import { buildNpmPackages } from "./npm.ts";
import { writeWingetManifests } from "./winget.ts";

export class ReleaseError extends Error {
  readonly code = "release_incomplete";
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

export function release(ctx: ReleaseContext, env: NodeJS.ProcessEnv, log: (line: string) => void): void {
  const started = performance.now();
  rmSync(ctx.out, { recursive: true, force: true });
  mkdirSync(ctx.out, { recursive: true });
  buildBinaries(ctx);
  const archives = buildArchives(ctx);
  const debs = TARGETS.filter((t) => t.os === "linux").map((t) => buildDeb(ctx, t));
  const sums = new Map([...archives, ...debs].map((p) => [basename(p), sha256(p)]));
  writeFileSync(join(ctx.out, "SHA256SUMS"), renderSha256Sums(sums));
  buildAptRepository(ctx, debs, env, log);
  writeHomebrewFormula(ctx, sums);
  writeWingetManifests(ctx, sums);
  const npmTarballs = buildNpmPackages(ctx);
  rmSync(join(ctx.out, "stage"), { recursive: true, force: true });
  const binaries = new Map(TARGETS.map((t) => [t, statSync(join(ctx.root, "dist", t.bun, binaryName(t))).size]));
  const artifacts = new Map([...archives, ...debs, ...npmTarballs].map((p) => [basename(p), statSync(p).size]));
  writeFileSync(join(ctx.out, "manifest.json"), renderManifest(ctx.version, binaries, artifacts));
  if (!existsSync(join(ctx.out, "apt", "dists", "stable", "InRelease"))) throw new ReleaseError("apt repository not signed");
  log(`release: ${artifacts.size} artifacts in ${ctx.out} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  for (const [t, size] of binaries) log(`  ${`${t.os}-${t.arch}`.padEnd(14)} ${(size / 1e6).toFixed(1)} MB`);
}
