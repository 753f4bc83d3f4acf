/** The winget manifests (winget/manifests/c/copebit/AgentRunnerAuth/<version>/): version, installer, default locale. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { archiveName, releaseDate, releaseUrl, REPO, TARGETS, type ReleaseContext, type ReleaseMeta } from "./context.ts";

export const WINGET_ID = "copebit.AgentRunnerAuth";

export const wingetDir = (version: string): string => join("winget", "manifests", "c", "copebit", "AgentRunnerAuth", version);

/** The three manifests, by file name. */
export function renderWingetManifests(meta: ReleaseMeta, sums: Map<string, string>): Record<string, string> {
  const { version } = meta;
  const id = WINGET_ID;
  const header = (type: string) => `# yaml-language-server: $schema=https://aka.ms/winget-manifest.${type}.1.6.0.schema.json\n`;
  const windows = TARGETS.find((t) => t.os === "windows");
  if (!windows) throw new Error("no windows target");
  const archive = archiveName(version, windows);
  const sum = sums.get(archive);
  if (!sum) throw new Error(`no checksum for ${archive}`);
  return {
    [`${id}.yaml`]: `${header("version")}PackageIdentifier: ${id}\nPackageVersion: ${version}\nDefaultLocale: en-US\nManifestType: version\nManifestVersion: 1.6.0\n`,
    [`${id}.installer.yaml`]: `${header("installer")}PackageIdentifier: ${id}
PackageVersion: ${version}
InstallerType: zip
NestedInstallerType: portable
NestedInstallerFiles:
  - RelativeFilePath: agent-runner-auth.exe
    PortableCommandAlias: agent-runner-auth
Commands:
  - agent-runner-auth
ReleaseDate: ${releaseDate(meta)}
Installers:
  - Architecture: x64
    InstallerUrl: ${releaseUrl(version, archive)}
    InstallerSha256: ${sum.toUpperCase()}
ManifestType: installer
ManifestVersion: 1.6.0
`,
    [`${id}.locale.en-US.yaml`]: `${header("defaultLocale")}PackageIdentifier: ${id}
PackageVersion: ${version}
PackageLocale: en-US
Publisher: copebit AG
PublisherUrl: https://copebit.ch
PackageName: agent-runner-auth
PackageUrl: ${REPO}
License: MIT
LicenseUrl: ${REPO}/blob/main/LICENSE
ShortDescription: ${meta.description}
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
  };
}

export function writeWingetManifests(ctx: ReleaseContext, sums: Map<string, string>): void {
  const dir = join(ctx.out, wingetDir(ctx.version));
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(renderWingetManifests(ctx, sums))) writeFileSync(join(dir, name), content);
}
