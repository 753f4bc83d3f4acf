/**
 * `npm run release`: every artifact the install channels need, from one command, into
 * dist/release/:
 *   - single-file binaries for linux-x64, linux-arm64, darwin-arm64, darwin-x64, windows-x64, each
 *     with its platform's keyring addon embedded, in archives named
 *     agent-runner-auth_<version>_<os>_<arch>.tar.gz (.zip for Windows), with the man page,
 *     shell completions, LICENSE and README;
 *   - .deb packages (amd64, arm64) and a signed apt repository tree (apt/);
 *   - the Homebrew formula (homebrew/Formula/agent-runner-auth.rb);
 *   - the winget manifests (winget/manifests/c/copebit/AgentRunnerAuth/<version>/);
 *   - npm packages the way esbuild and Biome ship: a small main package plus one optional
 *     dependency per platform holding the binary, no postinstall (npm/*.tgz);
 *   - SHA256SUMS, and manifest.json with sizes.
 * Signing: the apt repository is signed with the gpg key RELEASE_GPG_KEY (an id or e-mail in the
 * current GNUPGHOME); without it a throwaway key is generated and the run says so. macOS and
 * Windows code signing happen elsewhere (docs/releasing.md).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { renderManPage } from "./manpage.ts";
import { bash, fish, powershell, zsh } from "../src/cli/commands/completion.ts";

export interface Target {
  bun: string;
  os: "linux" | "darwin" | "windows";
  arch: "amd64" | "arm64";
  addon: string;
  npmName: string;
  npmOs: string;
  npmCpu: string;
}

export const TARGETS: Target[] = [
  { bun: "bun-linux-x64", os: "linux", arch: "amd64", addon: "@napi-rs/keyring-linux-x64-gnu", npmName: "linux-x64", npmOs: "linux", npmCpu: "x64" },
  { bun: "bun-linux-arm64", os: "linux", arch: "arm64", addon: "@napi-rs/keyring-linux-arm64-gnu", npmName: "linux-arm64", npmOs: "linux", npmCpu: "arm64" },
  { bun: "bun-darwin-arm64", os: "darwin", arch: "arm64", addon: "@napi-rs/keyring-darwin-arm64", npmName: "darwin-arm64", npmOs: "darwin", npmCpu: "arm64" },
  { bun: "bun-darwin-x64", os: "darwin", arch: "amd64", addon: "@napi-rs/keyring-darwin-x64", npmName: "darwin-x64", npmOs: "darwin", npmCpu: "x64" },
  { bun: "bun-windows-x64", os: "windows", arch: "amd64", addon: "@napi-rs/keyring-win32-x64-msvc", npmName: "win32-x64", npmOs: "win32", npmCpu: "x64" },
];

const ROOT = join(import.meta.dir, "..");
const OUT = join(ROOT, "dist", "release");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; description: string };
const VERSION = pkg.version;
const REPO = "https://github.com/copebit/agent-runner-auth";
const MAINTAINER = "copebit AG <agent-runner@copebit.ch>";
const SOURCE_DATE_EPOCH = process.env.SOURCE_DATE_EPOCH ?? String(Math.floor(Number(spawnSync("git", ["log", "-1", "--format=%ct"], { cwd: ROOT, encoding: "utf8" }).stdout.trim() || Date.now() / 1000)));

function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string } = {}): string {
  const result = spawnSync(command, args, { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, encoding: "utf8", input: options.input, maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
export const archiveName = (t: Pick<Target, "os" | "arch">) => `agent-runner-auth_${VERSION}_${t.os}_${t.arch}.${t.os === "windows" ? "zip" : "tar.gz"}`;
const binaryName = (t: Target) => (t.os === "windows" ? "agent-runner-auth.exe" : "agent-runner-auth");

function writeExtras(dir: string): void {
  copyFileSync(join(ROOT, "LICENSE"), join(dir, "LICENSE"));
  copyFileSync(join(ROOT, "README.md"), join(dir, "README.md"));
  writeFileSync(join(dir, "agent-runner-auth.1"), renderManPage(new Date(Number(SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 10)));
  mkdirSync(join(dir, "completions"), { recursive: true });
  writeFileSync(join(dir, "completions", "agent-runner-auth.bash"), bash());
  writeFileSync(join(dir, "completions", "_agent-runner-auth"), zsh());
  writeFileSync(join(dir, "completions", "agent-runner-auth.fish"), fish());
  writeFileSync(join(dir, "completions", "agent-runner-auth.ps1"), powershell());
}

function buildBinaries(): void {
  const version = JSON.parse(readFileSync(join(ROOT, "node_modules", "@napi-rs", "keyring", "package.json"), "utf8")).version as string;
  // With --target, bun embeds only that target's addon: each platform package must be present.
  run("npm", ["install", "--no-save", "--force", "--no-audit", "--no-fund", ...TARGETS.map((t) => `${t.addon}@${version}`)]);
  for (const t of TARGETS) run(process.execPath, [join(ROOT, "scripts", "build.ts"), `--target=${t.bun}`]);
}

function buildArchives(): string[] {
  const artifacts: string[] = [];
  for (const t of TARGETS) {
    const name = archiveName(t);
    const stage = join(OUT, "stage", `agent-runner-auth_${VERSION}_${t.os}_${t.arch}`);
    mkdirSync(stage, { recursive: true });
    copyFileSync(join(ROOT, "dist", t.bun, binaryName(t)), join(stage, binaryName(t)));
    chmodSync(join(stage, binaryName(t)), 0o755);
    writeExtras(stage);
    const archive = join(OUT, name);
    if (t.os === "windows") run("zip", ["-q", "-X", "-r", archive, "."], { cwd: stage });
    else run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${SOURCE_DATE_EPOCH}`, "-czf", archive, "-C", stage, "."]);
    artifacts.push(archive);
  }
  return artifacts;
}

function buildDeb(t: Target): string {
  const root = join(OUT, "stage", `deb-${t.arch}`);
  rmSync(root, { recursive: true, force: true });
  const dirs = ["DEBIAN", "usr/bin", "usr/share/man/man1", "usr/share/doc/agent-runner-auth", "usr/share/bash-completion/completions", "usr/share/zsh/vendor-completions", "usr/share/fish/vendor_completions.d"];
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  copyFileSync(join(ROOT, "dist", t.bun, "agent-runner-auth"), join(root, "usr/bin/agent-runner-auth"));
  chmodSync(join(root, "usr/bin/agent-runner-auth"), 0o755);
  writeFileSync(join(root, "usr/share/man/man1/agent-runner-auth.1.gz"), gzipSync(renderManPage(new Date(Number(SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 10)), { level: 9 }));
  writeFileSync(join(root, "usr/share/bash-completion/completions/agent-runner-auth"), bash());
  writeFileSync(join(root, "usr/share/zsh/vendor-completions/_agent-runner-auth"), zsh());
  writeFileSync(join(root, "usr/share/fish/vendor_completions.d/agent-runner-auth.fish"), fish());
  writeFileSync(
    join(root, "usr/share/doc/agent-runner-auth/copyright"),
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: agent-runner-auth\nSource: ${REPO}\n\nFiles: *\nCopyright: 2026 copebit AG and the agent-runner-auth contributors\nLicense: MIT\n ${readFileSync(join(ROOT, "LICENSE"), "utf8").split("\n").slice(2).map((l) => (l === "" ? "." : l)).join("\n ")}\n`,
  );
  const installedKb = Math.ceil(Number(run("du", ["-sk", "--exclude=DEBIAN", root]).split("\t")[0]));
  // The binary is self-contained (Bun runtime and keyring addon inside); it needs only glibc
  // (2.17+, checked with objdump) and talks D-Bus itself, so libsecret is not needed. A Secret
  // Service provider is what makes the default store work; pass is the alternative.
  writeFileSync(
    join(root, "DEBIAN", "control"),
    [
      "Package: agent-runner-auth",
      `Version: ${VERSION}`,
      `Architecture: ${t.arch}`,
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${installedKb}`,
      "Depends: libc6 (>= 2.17)",
      "Recommends: gnome-keyring | keepassxc | kwalletmanager",
      "Suggests: pass",
      "Section: utils",
      "Priority: optional",
      `Homepage: ${REPO}`,
      `Description: ${pkg.description}`,
      " agent-runner-auth signs in to an agent-runner tenant (Amazon Cognito) through the",
      " browser, keeps the tokens in the OS keychain, and prints a valid access token for",
      " Claude Code's apiKeyHelper.",
      "",
    ].join("\n"),
  );
  const deb = join(OUT, `agent-runner-auth_${VERSION}_${t.arch}.deb`);
  run("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", root, deb], { env: { SOURCE_DATE_EPOCH } });
  return deb;
}

/** The signing key: RELEASE_GPG_KEY from the caller's keyring, or a throwaway one (said loudly). */
function signingKey(): { env: Record<string, string>; id: string } {
  if (process.env.RELEASE_GPG_KEY) return { env: {}, id: process.env.RELEASE_GPG_KEY };
  const home = mkdtempSync(join(tmpdir(), "release-gpg-"));
  chmodSync(home, 0o700);
  const env = { GNUPGHOME: home };
  run("gpg", ["--batch", "--passphrase", "", "--quick-gen-key", "agent-runner apt test key <apt-test@agent-runner.invalid>", "rsa3072", "sign", "1d"], { env });
  console.error("release: RELEASE_GPG_KEY is not set: the apt repository is signed with a throwaway key (fine for tests, not for publishing)");
  return { env, id: "apt-test@agent-runner.invalid" };
}

function buildAptRepository(debs: string[]): void {
  const repo = join(OUT, "apt");
  rmSync(repo, { recursive: true, force: true });
  const pool = join(repo, "pool", "main", "a", "agent-runner-auth");
  mkdirSync(pool, { recursive: true });
  for (const deb of debs) copyFileSync(deb, join(pool, basename(deb)));
  for (const arch of ["amd64", "arm64"]) {
    const dir = join(repo, "dists", "stable", "main", `binary-${arch}`);
    mkdirSync(dir, { recursive: true });
    const packages = run("apt-ftparchive", ["--arch", arch, "packages", "pool"], { cwd: repo });
    writeFileSync(join(dir, "Packages"), packages);
    writeFileSync(join(dir, "Packages.gz"), gzipSync(packages, { level: 9 }));
  }
  const release = run("apt-ftparchive", [
    "-o", "APT::FTPArchive::Release::Origin=agent-runner",
    "-o", "APT::FTPArchive::Release::Label=agent-runner",
    "-o", "APT::FTPArchive::Release::Suite=stable",
    "-o", "APT::FTPArchive::Release::Codename=stable",
    "-o", "APT::FTPArchive::Release::Architectures=amd64 arm64",
    "-o", "APT::FTPArchive::Release::Components=main",
    "-o", `APT::FTPArchive::Release::Description=agent-runner-auth ${VERSION}`,
    "release", "dists/stable",
  ], { cwd: repo });
  const releaseFile = join(repo, "dists", "stable", "Release");
  writeFileSync(releaseFile, release);
  const key = signingKey();
  run("gpg", ["--batch", "--yes", "--local-user", key.id, "--clearsign", "--output", join(repo, "dists", "stable", "InRelease"), releaseFile], { env: key.env });
  run("gpg", ["--batch", "--yes", "--local-user", key.id, "--armor", "--detach-sign", "--output", join(repo, "dists", "stable", "Release.gpg"), releaseFile], { env: key.env });
  run("gpg", ["--batch", "--yes", "--export", "--output", join(repo, "agent-runner-archive-keyring.gpg"), key.id], { env: key.env });
  run("gpg", ["--batch", "--yes", "--armor", "--export", "--output", join(repo, "agent-runner-archive-keyring.asc"), key.id], { env: key.env });
  // A throwaway key's gpg-agent must not outlive the release run.
  if (key.env.GNUPGHOME) spawnSync("gpgconf", ["--homedir", key.env.GNUPGHOME, "--kill", "all"]);
}

function buildHomebrewFormula(sums: Map<string, string>): void {
  const url = (t: Pick<Target, "os" | "arch">) => `${REPO}/releases/download/v${VERSION}/${archiveName(t)}`;
  // One `on_macos`/`on_linux` section, with its arm and intel archives.
  const section = (os: "darwin" | "linux") =>
    (["arm64", "amd64"] as const)
      .map((arch) => `    on_${arch === "arm64" ? "arm" : "intel"} do\n      url "${url({ os, arch })}"\n      sha256 "${sums.get(archiveName({ os, arch }))}"\n    end`)
      .join("\n");
  const formula = `# Generated by scripts/release.ts for agent-runner-auth ${VERSION}: copy to copebit/homebrew-tap.
class AgentRunnerAuth < Formula
  desc "${pkg.description}"
  homepage "${REPO}"
  version "${VERSION}"
  license "MIT"

  on_macos do
${section("darwin")}
  end

  on_linux do
${section("linux")}
  end

  def install
    bin.install "agent-runner-auth"
    man1.install "agent-runner-auth.1"
    bash_completion.install "completions/agent-runner-auth.bash" => "agent-runner-auth"
    zsh_completion.install "completions/_agent-runner-auth"
    fish_completion.install "completions/agent-runner-auth.fish"
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/agent-runner-auth --version")
    # No profile yet: token must fail cleanly with exit 1 and say what to run.
    output = shell_output("#{bin}/agent-runner-auth token 2>&1", 1)
    assert_match "agent-runner-auth login", output
  end
end
`;
  mkdirSync(join(OUT, "homebrew", "Formula"), { recursive: true });
  writeFileSync(join(OUT, "homebrew", "Formula", "agent-runner-auth.rb"), formula);
}

function buildWingetManifests(sums: Map<string, string>): void {
  const id = "copebit.AgentRunnerAuth";
  const dir = join(OUT, "winget", "manifests", "c", "copebit", "AgentRunnerAuth", VERSION);
  mkdirSync(dir, { recursive: true });
  const header = (type: string) => `# yaml-language-server: $schema=https://aka.ms/winget-manifest.${type}.1.6.0.schema.json\n`;
  const windows = TARGETS.find((t) => t.os === "windows")!;
  writeFileSync(join(dir, `${id}.yaml`), `${header("version")}PackageIdentifier: ${id}\nPackageVersion: ${VERSION}\nDefaultLocale: en-US\nManifestType: version\nManifestVersion: 1.6.0\n`);
  writeFileSync(
    join(dir, `${id}.installer.yaml`),
    `${header("installer")}PackageIdentifier: ${id}
PackageVersion: ${VERSION}
InstallerType: zip
NestedInstallerType: portable
NestedInstallerFiles:
  - RelativeFilePath: agent-runner-auth.exe
    PortableCommandAlias: agent-runner-auth
Commands:
  - agent-runner-auth
ReleaseDate: ${new Date(Number(SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 10)}
Installers:
  - Architecture: x64
    InstallerUrl: ${REPO}/releases/download/v${VERSION}/${archiveName(windows)}
    InstallerSha256: ${sums.get(archiveName(windows))!.toUpperCase()}
ManifestType: installer
ManifestVersion: 1.6.0
`,
  );
  writeFileSync(
    join(dir, `${id}.locale.en-US.yaml`),
    `${header("defaultLocale")}PackageIdentifier: ${id}
PackageVersion: ${VERSION}
PackageLocale: en-US
Publisher: copebit AG
PublisherUrl: https://copebit.ch
PackageName: agent-runner-auth
PackageUrl: ${REPO}
License: MIT
LicenseUrl: ${REPO}/blob/main/LICENSE
ShortDescription: ${pkg.description}
Description: Signs in to an agent-runner tenant (Amazon Cognito) through the browser, keeps the tokens in Windows Credential Manager, and prints a valid access token for Claude Code's apiKeyHelper.
Moniker: agent-runner-auth
Tags:
  - claude-code
  - cognito
  - oauth
  - cli
ManifestType: defaultLocale
ManifestVersion: 1.6.0
`,
  );
}

/** npm: a main package with a tiny launcher, and one package per platform with the binary. */
function buildNpmPackages(): string[] {
  const base = join(OUT, "npm");
  rmSync(base, { recursive: true, force: true });
  const tarballs: string[] = [];
  for (const t of TARGETS) {
    const dir = join(base, t.npmName);
    mkdirSync(join(dir, "bin"), { recursive: true });
    copyFileSync(join(ROOT, "dist", t.bun, binaryName(t)), join(dir, "bin", binaryName(t)));
    chmodSync(join(dir, "bin", binaryName(t)), 0o755);
    copyFileSync(join(ROOT, "LICENSE"), join(dir, "LICENSE"));
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: `@agent-runner-auth/${t.npmName}`, version: VERSION, description: `The ${t.npmName} binary of agent-runner-auth`, license: "MIT", repository: REPO, os: [t.npmOs], cpu: [t.npmCpu], files: ["bin", "LICENSE"], preferUnplugged: true }, null, 2) + "\n",
    );
    tarballs.push(join(base, run("npm", ["pack", "--silent", "--pack-destination", base], { cwd: dir }).trim().split("\n").at(-1)!));
  }
  const main = join(base, "agent-runner-auth");
  mkdirSync(join(main, "bin"), { recursive: true });
  copyFileSync(join(ROOT, "scripts", "npm-launcher.cjs"), join(main, "bin", "agent-runner-auth"));
  chmodSync(join(main, "bin", "agent-runner-auth"), 0o755);
  copyFileSync(join(ROOT, "LICENSE"), join(main, "LICENSE"));
  copyFileSync(join(ROOT, "README.md"), join(main, "README.md"));
  writeFileSync(
    join(main, "package.json"),
    JSON.stringify(
      {
        name: "agent-runner-auth",
        version: VERSION,
        description: pkg.description,
        license: "MIT",
        repository: REPO,
        bin: { "agent-runner-auth": "bin/agent-runner-auth" },
        files: ["bin", "LICENSE", "README.md"],
        optionalDependencies: Object.fromEntries(TARGETS.map((t) => [`@agent-runner-auth/${t.npmName}`, VERSION])),
      },
      null,
      2,
    ) + "\n",
  );
  tarballs.push(join(base, run("npm", ["pack", "--silent", "--pack-destination", base], { cwd: main }).trim().split("\n").at(-1)!));
  return tarballs;
}

if (import.meta.main) {
  const started = performance.now();
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  buildBinaries();
  const archives = buildArchives();
  const debs = TARGETS.filter((t) => t.os === "linux").map(buildDeb);
  const sums = new Map([...archives, ...debs].map((p) => [basename(p), sha256(p)]));
  writeFileSync(join(OUT, "SHA256SUMS"), [...sums].map(([name, sum]) => `${sum}  ${name}`).join("\n") + "\n");
  buildAptRepository(debs);
  buildHomebrewFormula(sums);
  buildWingetManifests(sums);
  const npmTarballs = buildNpmPackages();
  rmSync(join(OUT, "stage"), { recursive: true, force: true });
  const manifest = {
    version: VERSION,
    binaries: Object.fromEntries(TARGETS.map((t) => [`${t.os}-${t.arch}`, statSync(join(ROOT, "dist", t.bun, binaryName(t))).size])),
    artifacts: Object.fromEntries([...archives, ...debs, ...npmTarballs].map((p) => [basename(p), statSync(p).size])),
  };
  writeFileSync(join(OUT, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  if (!existsSync(join(OUT, "apt", "dists", "stable", "InRelease"))) throw new Error("apt repository not signed");
  console.error(`release: ${Object.keys(manifest.artifacts).length} artifacts in ${OUT} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  for (const [name, size] of Object.entries(manifest.binaries)) console.error(`  ${name.padEnd(14)} ${(size / 1e6).toFixed(1)} MB`);
}
