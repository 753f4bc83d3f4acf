/**
 * npm packages the way esbuild and Biome ship: a small main package with a launcher
 * (scripts/npm-launcher.cjs) plus one optional dependency per platform holding the binary, no
 * postinstall (npm/*.tgz).
 */
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binaryName, REPO, run, TARGETS, type ReleaseContext, type ReleaseMeta, type Target } from "./context.ts";

export const platformPackageName = (t: Pick<Target, "npmName">): string => `@agent-runner-auth/${t.npmName}`;

export function renderPlatformPackageJson(meta: Pick<ReleaseMeta, "version">, t: Target): string {
  return (
    JSON.stringify(
      { name: platformPackageName(t), version: meta.version, description: `The ${t.npmName} binary of agent-runner-auth`, license: "MIT", repository: REPO, os: [t.npmOs], cpu: [t.npmCpu], files: ["bin", "LICENSE"], preferUnplugged: true },
      null,
      2,
    ) + "\n"
  );
}

export function renderMainPackageJson(meta: Pick<ReleaseMeta, "version" | "description">): string {
  return (
    JSON.stringify(
      {
        name: "agent-runner-auth",
        version: meta.version,
        description: meta.description,
        license: "MIT",
        repository: REPO,
        bin: { "agent-runner-auth": "bin/agent-runner-auth" },
        files: ["bin", "LICENSE", "README.md"],
        optionalDependencies: Object.fromEntries(TARGETS.map((t) => [platformPackageName(t), meta.version])),
      },
      null,
      2,
    ) + "\n"
  );
}

/** `npm pack` into `base`; returns the tarball's path. */
function pack(ctx: ReleaseContext, dir: string, base: string): string {
  const name = run(ctx.root, "npm", ["pack", "--silent", "--pack-destination", base], { cwd: dir }).trim().split("\n").at(-1);
  if (!name) throw new Error(`npm pack in ${dir} named no tarball`);
  return join(base, name);
}

export function buildNpmPackages(ctx: ReleaseContext): string[] {
  const base = join(ctx.out, "npm");
  rmSync(base, { recursive: true, force: true });
  const tarballs: string[] = [];
  for (const t of TARGETS) {
    const dir = join(base, t.npmName);
    mkdirSync(join(dir, "bin"), { recursive: true });
    copyFileSync(join(ctx.root, "dist", t.bun, binaryName(t)), join(dir, "bin", binaryName(t)));
    chmodSync(join(dir, "bin", binaryName(t)), 0o755);
    copyFileSync(join(ctx.root, "LICENSE"), join(dir, "LICENSE"));
    writeFileSync(join(dir, "package.json"), renderPlatformPackageJson(ctx, t));
    tarballs.push(pack(ctx, dir, base));
  }
  const main = join(base, "agent-runner-auth");
  mkdirSync(join(main, "bin"), { recursive: true });
  copyFileSync(join(ctx.root, "scripts", "npm-launcher.cjs"), join(main, "bin", "agent-runner-auth"));
  chmodSync(join(main, "bin", "agent-runner-auth"), 0o755);
  copyFileSync(join(ctx.root, "LICENSE"), join(main, "LICENSE"));
  copyFileSync(join(ctx.root, "README.md"), join(main, "README.md"));
  writeFileSync(join(main, "package.json"), renderMainPackageJson(ctx));
  tarballs.push(pack(ctx, main, base));
  return tarballs;
}
