/** The cross-compiled binaries (scripts/build.ts --target), each bound to its platform's keyring addon, and the release manifest. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { run, TARGETS, type ReleaseContext, type Target } from "./context.ts";

/** npm specs of every target's keyring addon at the version the build uses. */
export const addonSpecs = (keyringVersion: string, targets: Target[] = TARGETS): string[] => targets.map((t) => `${t.addon}@${keyringVersion}`);

export function buildBinaries(ctx: ReleaseContext): void {
  const keyring = JSON.parse(readFileSync(join(ctx.root, "node_modules", "@napi-rs", "keyring", "package.json"), "utf8")) as { version: string };
  // With --target, bun embeds only that target's addon: each platform package must be present.
  run(ctx.root, "npm", ["install", "--no-save", "--force", "--no-audit", "--no-fund", ...addonSpecs(keyring.version)]);
  for (const t of TARGETS) run(ctx.root, process.execPath, [join(ctx.root, "scripts", "build.ts"), `--target=${t.bun}`]);
}

export interface ReleaseManifest {
  version: string;
  binaries: Record<string, number>;
  artifacts: Record<string, number>;
}

/** manifest.json: binary sizes by `<os>-<arch>`, artefact sizes by file name. */
export function renderManifest(version: string, binarySizes: Map<Target, number>, artifactSizes: Map<string, number>): string {
  const manifest: ReleaseManifest = {
    version,
    binaries: Object.fromEntries([...binarySizes].map(([t, size]) => [`${t.os}-${t.arch}`, size])),
    artifacts: Object.fromEntries(artifactSizes),
  };
  return JSON.stringify(manifest, null, 2) + "\n";
}
