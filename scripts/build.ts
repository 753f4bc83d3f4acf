/**
 * `npm run build`: compiles the CLI into one executable, dist/agent-runner-auth (for this
 * platform), or for --target bun-<os>-<arch> into dist/<target>/.
 */
import { $ } from "bun";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const target = process.argv.find((a) => a.startsWith("--target="))?.slice("--target=".length);
const commit = (await $`git rev-parse --short=12 HEAD`.quiet().nothrow()).stdout.toString().trim() || "unknown";
const outdir = target ? join("dist", target) : "dist";
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, target?.includes("windows") ? "agent-runner-auth.exe" : "agent-runner-auth");

const result = await Bun.build({
  entrypoints: ["src/cli/main.ts"],
  compile: target ? { target: target as Bun.Build.CompileTarget, outfile } : { outfile },
  minify: true,
  sourcemap: "none",
  bytecode: false,
  define: { BUILD_COMMIT: JSON.stringify(commit) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.error(`built ${outfile} (${commit})`);
