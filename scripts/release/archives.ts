/** The per-platform archives (.tar.gz, .zip for Windows): binary, man page, completions, LICENSE, README. */
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderManPage } from "../manpage.ts";
import { bash, fish, powershell, zsh } from "../../src/cli/commands/completion/completion.ts";
import { archiveName, binaryName, releaseDate, run, TARGETS, type ReleaseContext, type ReleaseMeta, type Target } from "./context.ts";

/** The generated files every archive carries beside the binary, by relative path. */
export function renderArchiveExtras(meta: Pick<ReleaseMeta, "sourceDateEpoch">): Record<string, string> {
  return {
    "agent-runner-auth.1": renderManPage(releaseDate(meta)),
    "completions/agent-runner-auth.bash": bash(),
    "completions/_agent-runner-auth": zsh(),
    "completions/agent-runner-auth.fish": fish(),
    "completions/agent-runner-auth.ps1": powershell(),
  };
}

/** tar arguments for a reproducible archive: sorted, owned by root, the source date as mtime. */
export function tarArgs(archive: string, stage: string, sourceDateEpoch: string): string[] {
  return ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${sourceDateEpoch}`, "-czf", archive, "-C", stage, "."];
}

/** `SHA256SUMS`, in the format `sha256sum -c` reads. */
export const renderSha256Sums = (sums: Map<string, string>): string => [...sums].map(([name, sum]) => `${sum}  ${name}`).join("\n") + "\n";

function stageArchive(ctx: ReleaseContext, t: Target, stage: string): void {
  mkdirSync(join(stage, "completions"), { recursive: true });
  copyFileSync(join(ctx.root, "dist", t.bun, binaryName(t)), join(stage, binaryName(t)));
  chmodSync(join(stage, binaryName(t)), 0o755);
  copyFileSync(join(ctx.root, "LICENSE"), join(stage, "LICENSE"));
  copyFileSync(join(ctx.root, "README.md"), join(stage, "README.md"));
  for (const [path, content] of Object.entries(renderArchiveExtras(ctx))) writeFileSync(join(stage, path), content);
}

export function buildArchives(ctx: ReleaseContext): string[] {
  return TARGETS.map((t) => {
    const stage = join(ctx.out, "stage", `agent-runner-auth_${ctx.version}_${t.os}_${t.arch}`);
    stageArchive(ctx, t, stage);
    const archive = join(ctx.out, archiveName(ctx.version, t));
    if (t.os === "windows") run(ctx.root, "zip", ["-q", "-X", "-r", archive, "."], { cwd: stage });
    else run(ctx.root, "tar", tarArgs(archive, stage, ctx.sourceDateEpoch));
    return archive;
  });
}
