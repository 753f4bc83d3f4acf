/** The .deb packages (amd64, arm64), built with dpkg-deb from a staged tree. */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { renderManPage } from "../manpage.ts";
import { bash, fish, zsh } from "../../src/cli/commands/completion/completion.ts";
import { MAINTAINER, releaseDate, REPO, run, type ReleaseContext, type ReleaseMeta, type Target } from "./context.ts";

export const DEB_DIRS = ["DEBIAN", "usr/bin", "usr/share/man/man1", "usr/share/doc/agent-runner-auth", "usr/share/doc/agent-runner-auth/examples", "usr/share/bash-completion/completions", "usr/share/zsh/vendor-completions", "usr/share/fish/vendor_completions.d"];

export const debName = (version: string, arch: Target["arch"]): string => `agent-runner-auth_${version}_${arch}.deb`;

export function renderDebControl(meta: Pick<ReleaseMeta, "version" | "description">, arch: Target["arch"], installedKb: number): string {
  // The binary is self-contained (Bun runtime and keyring addon inside); it needs only glibc
  // (2.17+, checked with objdump) and talks D-Bus itself, so libsecret is not needed. A Secret
  // Service provider is what makes the default store work; pass is the alternative.
  return [
    "Package: agent-runner-auth",
    `Version: ${meta.version}`,
    `Architecture: ${arch}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedKb}`,
    "Depends: libc6 (>= 2.17)",
    "Recommends: gnome-keyring | keepassxc | kwalletmanager",
    "Suggests: pass",
    "Section: utils",
    "Priority: optional",
    `Homepage: ${REPO}`,
    `Description: ${meta.description}`,
    " agent-runner-auth signs in to an agent-runner tenant (Amazon Cognito) through the",
    " browser, keeps the tokens in the OS keychain, and prints a valid access token for",
    " Claude Code's apiKeyHelper.",
    "",
  ].join("\n");
}

/** debian/copyright in the machine-readable format, the license text from LICENSE (its title lines dropped). */
export function renderDebCopyright(license: string): string {
  const body = license
    .split("\n")
    .slice(2)
    .map((l) => (l === "" ? "." : l))
    .join("\n ");
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: agent-runner-auth\nSource: ${REPO}\n\nFiles: *\nCopyright: 2026 copebit AG and the agent-runner-auth contributors\nLicense: MIT\n ${body}\n`;
}

/** Where the system configuration's empty example comes from (issue 11 §0: "the packages may ship an empty example"). */
export const SYSTEM_CONFIG_EXAMPLE = "deploy/system-config.example.json";

/**
 * The generated files of the package tree, by path under its root (the binary is copied
 * separately). The system configuration example goes to the doc examples, not /etc: installed
 * as /etc/agent-runner-auth/config.json it would be a conffile dpkg asks about on every upgrade
 * once an administrator has filled it in.
 */
export function renderDebFiles(meta: Pick<ReleaseMeta, "sourceDateEpoch">, license: string, systemConfigExample: string): Record<string, string | Uint8Array> {
  return {
    "usr/share/doc/agent-runner-auth/examples/config.json": systemConfigExample,
    "usr/share/man/man1/agent-runner-auth.1.gz": gzipSync(renderManPage(releaseDate(meta)), { level: 9 }),
    "usr/share/bash-completion/completions/agent-runner-auth": bash(),
    "usr/share/zsh/vendor-completions/_agent-runner-auth": zsh(),
    "usr/share/fish/vendor_completions.d/agent-runner-auth.fish": fish(),
    "usr/share/doc/agent-runner-auth/copyright": renderDebCopyright(license),
  };
}

export function buildDeb(ctx: ReleaseContext, t: Target): string {
  const root = join(ctx.out, "stage", `deb-${t.arch}`);
  rmSync(root, { recursive: true, force: true });
  for (const d of DEB_DIRS) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  copyFileSync(join(ctx.root, "dist", t.bun, "agent-runner-auth"), join(root, "usr/bin/agent-runner-auth"));
  chmodSync(join(root, "usr/bin/agent-runner-auth"), 0o755);
  for (const [path, content] of Object.entries(renderDebFiles(ctx, readFileSync(join(ctx.root, "LICENSE"), "utf8"), readFileSync(join(ctx.root, SYSTEM_CONFIG_EXAMPLE), "utf8")))) writeFileSync(join(root, path), content);
  const installedKb = Math.ceil(Number(run(ctx.root, "du", ["-sk", "--exclude=DEBIAN", root]).split("\t")[0]));
  writeFileSync(join(root, "DEBIAN", "control"), renderDebControl(ctx, t.arch, installedKb));
  const deb = join(ctx.out, debName(ctx.version, t.arch));
  run(ctx.root, "dpkg-deb", ["--root-owner-group", "-Zxz", "--build", root, deb], { env: { SOURCE_DATE_EPOCH: ctx.sourceDateEpoch } });
  return deb;
}
