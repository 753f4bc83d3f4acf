/**
 * The release artifacts (`npm run release`), checked the way each channel will use them: the
 * binaries' formats and embedded keyring addons, archives and SHA256SUMS, the .deb installed for
 * real from the signed apt repository served on loopback, the Homebrew formula's syntax and
 * checksums, the winget manifests, and the npm packages installed from their tarballs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ROOT, BUN, startTenant, type TenantProcess } from "../support/tenant.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { COMMANDS } from "../../src/cli/commands/registry.ts";

const OUT = join(ROOT, "dist", "release");
const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;
const sh = (command: string, args: string[], options: { cwd?: string; input?: string } = {}) => spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 26, ...options });

/** Asynchronous, for commands that talk to a server in this process (spawnSync would block it). */
function shAsync(command: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

beforeAll(() => {
  const built = sh(BUN, [join(ROOT, "scripts", "release.ts")], { cwd: ROOT });
  if (built.status !== 0) throw new Error(`release failed: ${built.stderr}`);
}, 600_000);

describe("binaries and archives", () => {
  const expected: [string, RegExp, string][] = [
    ["linux_amd64", /ELF 64-bit LSB executable, x86-64/, "keyring.linux-x64-gnu"],
    ["linux_arm64", /ELF 64-bit LSB executable, ARM aarch64/, "keyring.linux-arm64-gnu"],
    ["darwin_arm64", /Mach-O 64-bit arm64 executable/, "keyring.darwin-arm64"],
    ["darwin_amd64", /Mach-O 64-bit x86_64 executable/, "keyring.darwin-x64"],
    ["windows_amd64", /PE32\+ executable.*x86-64/, "keyring.win32-x64-msvc"],
  ];
  for (const [platform, format, addon] of expected) {
    test(`${platform}: archive contents, binary format, embedded keyring addon`, () => {
      const archive = join(OUT, `agent-runner-auth_${VERSION}_${platform}.${platform.startsWith("windows") ? "zip" : "tar.gz"}`);
      const dir = mkdtempSync(join(tmpdir(), "ara-unpack-"));
      if (platform.startsWith("windows")) expect(sh("unzip", ["-q", archive, "-d", dir]).status).toBe(0);
      else expect(sh("tar", ["-xzf", archive, "-C", dir]).status).toBe(0);
      const binary = join(dir, platform.startsWith("windows") ? "agent-runner-auth.exe" : "agent-runner-auth");
      expect(readdirSync(dir).sort()).toEqual(["LICENSE", "README.md", "agent-runner-auth.1", "completions", platform.startsWith("windows") ? "agent-runner-auth.exe" : "agent-runner-auth"].sort());
      expect(readdirSync(join(dir, "completions")).sort()).toEqual(["_agent-runner-auth", "agent-runner-auth.bash", "agent-runner-auth.fish", "agent-runner-auth.ps1"]);
      expect(sh("file", ["-b", binary]).stdout).toMatch(format);
      expect(sh("grep", ["-c", "-a", addon, binary]).stdout.trim()).not.toBe("0");
    });
  }

  test("SHA256SUMS verifies every archive and package", () => {
    const check = sh("sha256sum", ["-c", "SHA256SUMS"], { cwd: OUT });
    expect(check.status).toBe(0);
    expect(check.stdout.trim().split("\n")).toHaveLength(7);
  });

  test("the linux-x64 binary runs: --version prints the version and the commit", () => {
    const out = sh(join(ROOT, "dist", "bun-linux-x64", "agent-runner-auth"), ["--version"]);
    const commit = sh("git", ["rev-parse", "--short=12", "HEAD"], { cwd: ROOT }).stdout.trim();
    expect(out.stdout.trim()).toBe(`agent-runner-auth ${VERSION} (${commit})`);
  });

  test("the man page covers every command and option of --help", () => {
    const man = sh(BUN, [join(ROOT, "scripts", "manpage.ts")]).stdout;
    for (const command of COMMANDS) {
      expect(man).toContain(`.SS ${command.usage.replace(/^agent-runner-auth /, "").replaceAll("-", "\\-")}`);
      for (const option of command.options) expect(man).toContain(`\\-\\-${option.name.replaceAll("-", "\\-")}`);
    }
    const rendered = sh("man", ["-l", "-"], { input: man });
    expect(rendered.status).toBe(0);
    expect(rendered.stdout).toContain("EXIT STATUS");
  });
});

describe("apt", () => {
  test("the .deb: fields, files and dependencies", () => {
    const deb = join(OUT, `agent-runner-auth_${VERSION}_amd64.deb`);
    const info = sh("dpkg-deb", ["-f", deb]).stdout;
    expect(info).toContain(`Version: ${VERSION}`);
    expect(info).toContain("Architecture: amd64");
    expect(info).toContain("Depends: libc6 (>= 2.17)");
    expect(info).toContain("Recommends: gnome-keyring | keepassxc | kwalletmanager");
    expect(info).toContain("Suggests: pass");
    const files = sh("dpkg-deb", ["-c", deb]).stdout;
    for (const path of ["./usr/bin/agent-runner-auth", "./usr/share/man/man1/agent-runner-auth.1.gz", "./usr/share/bash-completion/completions/agent-runner-auth", "./usr/share/zsh/vendor-completions/_agent-runner-auth", "./usr/share/fish/vendor_completions.d/agent-runner-auth.fish", "./usr/share/doc/agent-runner-auth/copyright", "./usr/share/doc/agent-runner-auth/examples/config.json"]) {
      expect(files).toContain(path);
    }
    expect(files).toMatch(/-rwxr-xr-x root\/root .* \.\/usr\/bin\/agent-runner-auth/);
    expect(sh("dpkg-deb", ["-f", join(OUT, `agent-runner-auth_${VERSION}_arm64.deb`), "Architecture"]).stdout.trim()).toBe("arm64");
  });

  test("the signed repository installs with apt-get from loopback, runs, and removes", async () => {
    expect(process.getuid?.()).toBe(0); // installing a package needs root (CI and the dev machines are root)
    const repo = join(OUT, "apt");
    expect(sh("gpg", ["--no-default-keyring", "--keyring", join(repo, "agent-runner-archive-keyring.gpg"), "--verify", join(repo, "dists/stable/Release.gpg"), join(repo, "dists/stable/Release")]).status).toBe(0);
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(request) {
        const path = decodeURIComponent(new URL(request.url).pathname);
        const file = Bun.file(join(repo, path));
        return path.includes("..") || !(await file.exists()) ? new Response("not found", { status: 404 }) : new Response(file);
      },
    });
    const state = mkdtempSync(join(tmpdir(), "ara-apt-"));
    const sources = join(state, "agent-runner.list");
    writeFileSync(sources, `deb [signed-by=${join(repo, "agent-runner-archive-keyring.gpg")}] http://127.0.0.1:${server.port} stable main\n`);
    const apt = (args: string[]) =>
      shAsync("apt-get", ["-o", `Dir::Etc::SourceList=${sources}`, "-o", "Dir::Etc::SourceParts=/nonexistent", "-o", `Dir::State::Lists=${state}`, "-o", "APT::Get::List-Cleanup=0", "-o", "Debug::NoLocking=0", "-y", "-q", ...args]);
    try {
      const update = await apt(["update"]);
      expect(update.stderr).not.toContain("NO_PUBKEY");
      expect(update.status).toBe(0);
      const install = await apt(["install", "--no-install-recommends", "agent-runner-auth"]);
      expect(install.status).toBe(0);
      expect(sh("/usr/bin/agent-runner-auth", ["--version"]).stdout).toContain(`agent-runner-auth ${VERSION}`);
      expect(existsSync("/usr/share/man/man1/agent-runner-auth.1.gz")).toBe(true);
    } finally {
      const remove = await apt(["remove", "agent-runner-auth"]);
      server.stop(true);
      expect(remove.status).toBe(0);
      expect(existsSync("/usr/bin/agent-runner-auth")).toBe(false);
    }
  }, 120_000);
});

describe("Homebrew and winget", () => {
  const sums = () => new Map(readFileSync(join(OUT, "SHA256SUMS"), "utf8").trim().split("\n").map((l) => l.split(/\s+/).reverse() as [string, string]));

  test("the formula is valid Ruby with the real URLs and checksums, completions, man page and a test block", () => {
    const formula = join(OUT, "homebrew", "Formula", "agent-runner-auth.rb");
    expect(sh("ruby", ["-c", formula]).stdout).toContain("Syntax OK");
    const text = readFileSync(formula, "utf8");
    for (const platform of ["darwin_arm64", "darwin_amd64", "linux_arm64", "linux_amd64"]) {
      const name = `agent-runner-auth_${VERSION}_${platform}.tar.gz`;
      expect(text).toContain(`url "https://github.com/copebit/agent-runner-auth/releases/download/v${VERSION}/${name}"`);
      expect(text).toContain(`sha256 "${sums().get(name)}"`);
    }
    for (const part of ['man1.install "agent-runner-auth.1"', "bash_completion.install", "zsh_completion.install", "fish_completion.install", "test do"]) expect(text).toContain(part);
  });

  test("the winget manifests (schema 1.6): portable zip with the command alias and the zip's SHA-256", () => {
    const dir = join(OUT, "winget", "manifests", "c", "copebit", "AgentRunnerAuth", VERSION);
    const version = parseYaml(readFileSync(join(dir, "copebit.AgentRunnerAuth.yaml"), "utf8"));
    const installer = parseYaml(readFileSync(join(dir, "copebit.AgentRunnerAuth.installer.yaml"), "utf8"));
    const locale = parseYaml(readFileSync(join(dir, "copebit.AgentRunnerAuth.locale.en-US.yaml"), "utf8"));
    expect(version).toEqual({ PackageIdentifier: "copebit.AgentRunnerAuth", PackageVersion: VERSION, DefaultLocale: "en-US", ManifestType: "version", ManifestVersion: "1.6.0" });
    expect(installer).toMatchObject({ PackageIdentifier: "copebit.AgentRunnerAuth", InstallerType: "zip", NestedInstallerType: "portable", NestedInstallerFiles: [{ RelativeFilePath: "agent-runner-auth.exe", PortableCommandAlias: "agent-runner-auth" }], ManifestType: "installer", ManifestVersion: "1.6.0" });
    const zip = `agent-runner-auth_${VERSION}_windows_amd64.zip`;
    expect(installer.Installers).toEqual([{ Architecture: "x64", InstallerUrl: `https://github.com/copebit/agent-runner-auth/releases/download/v${VERSION}/${zip}`, InstallerSha256: sums().get(zip)!.toUpperCase() }]);
    expect(locale).toMatchObject({ PackageLocale: "en-US", Publisher: "copebit AG", PackageName: "agent-runner-auth", License: "MIT", ManifestType: "defaultLocale", ManifestVersion: "1.6.0" });
    // winget's own limits that its schema enforces
    expect(locale.ShortDescription.length).toBeLessThanOrEqual(256);
    expect(installer.InstallerSha256 ?? installer.Installers[0].InstallerSha256).toMatch(/^[A-F0-9]{64}$/);
  });
});

describe("npm", () => {
  let tenant: TenantProcess;
  beforeAll(async () => {
    tenant = await startTenant();
  });
  afterAll(() => tenant.stop());

  test("installed from the packed tarballs (main + platform), --version and token work; no install scripts", async () => {
    const npmDir = join(OUT, "npm");
    const main = join(npmDir, `agent-runner-auth-${VERSION}.tgz`);
    const platform = join(npmDir, `agent-runner-auth-linux-x64-${VERSION}.tgz`);
    const listing = sh("tar", ["-xzOf", main, "package/package.json"]).stdout;
    const manifest = JSON.parse(listing);
    expect(manifest.scripts).toBeUndefined();
    expect(Object.keys(manifest.optionalDependencies)).toHaveLength(5);
    expect(JSON.parse(sh("tar", ["-xzOf", platform, "package/package.json"]).stdout)).toMatchObject({ os: ["linux"], cpu: ["x64"] });
    const prefix = mkdtempSync(join(tmpdir(), "ara-npm-"));
    const install = sh("npm", ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", main, platform]);
    expect(install.status).toBe(0);
    const bin = join(prefix, "bin", "agent-runner-auth");
    expect(sh(bin, ["--version"]).stdout).toContain(`agent-runner-auth ${VERSION}`);
    const user = tenant.users[0]!;
    const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password) });
    expect((await runCli(["login", tenant.tenant], env, { binary: bin })).code).toBe(0);
    const token = await runCli(["token"], env, { binary: bin });
    expect(token.code).toBe(0);
    expect(token.stdout.trim().split(".")).toHaveLength(3);
    const noSession = await runCli(["token", "--profile", "nobody"], env, { binary: bin });
    expect(noSession.code).toBe(1); // exit codes pass through the launcher
  }, 120_000);
});
