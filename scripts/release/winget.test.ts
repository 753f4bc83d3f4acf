/** The winget.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { parse as parseYaml } from "yaml";
import { archiveName } from "./context.ts";
import { renderWingetManifests, WINGET_ID, wingetDir } from "./winget.ts";
import { META, sums } from "./test-fixtures.ts";

describe("winget", () => {
  test("three manifests that parse, the installer pointing at the Windows zip with its upper-case checksum", () => {
    const manifests = renderWingetManifests(META, sums);
    expect(Object.keys(manifests).sort()).toEqual([`${WINGET_ID}.installer.yaml`, `${WINGET_ID}.locale.en-US.yaml`, `${WINGET_ID}.yaml`]);
    const installer = parseYaml(manifests[`${WINGET_ID}.installer.yaml`]!) as { Installers: { InstallerUrl: string; InstallerSha256: string }[]; ReleaseDate: string; PackageVersion: string };
    const zip = archiveName(META.version, { os: "windows", arch: "amd64" });
    expect(installer.Installers[0]!.InstallerUrl).toEndWith(`/v9.8.7/${zip}`);
    expect(installer.Installers[0]!.InstallerSha256).toBe(sums.get(zip)!.toUpperCase());
    expect(String(installer.ReleaseDate)).toBe("2026-01-01");
    expect(String(installer.PackageVersion)).toBe("9.8.7");
    for (const text of Object.values(manifests)) expect((parseYaml(text) as { PackageIdentifier: string }).PackageIdentifier).toBe(WINGET_ID);
    expect(wingetDir("9.8.7")).toBe("winget/manifests/c/copebit/AgentRunnerAuth/9.8.7");
  });
});
