/**
 * `npm run build`: compiles the CLI into one executable, dist/agent-runner-auth (for this
 * platform), or with --target=bun-<os>-<arch> into dist/<target>/.
 *
 * Start-up time of `token` is a feature, so the build:
 * - splits chunks, so modules of other commands (login, OAuth, child_process...) are loaded only
 *   when they run;
 * - binds @napi-rs/keyring straight to the target's native addon package, skipping the loader's
 *   run-time platform probing (it reads files to tell glibc from musl: ~2 ms per call);
 * - embeds JSC bytecode when building for the machine it runs on: the modules the cached `token`
 *   path runs are not parsed at each start (-2 ms, docs/benchmarks.md). Not for other targets:
 *   cross-compiled bytecode has crashed on launch in Bun releases (oven-sh/bun#18416, #24144).
 */
import { $, type BunPlugin } from "bun";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const ADDONS: Record<string, string> = {
  "linux-x64": "@napi-rs/keyring-linux-x64-gnu",
  "linux-arm64": "@napi-rs/keyring-linux-arm64-gnu",
  "darwin-x64": "@napi-rs/keyring-darwin-x64",
  "darwin-arm64": "@napi-rs/keyring-darwin-arm64",
  "windows-x64": "@napi-rs/keyring-win32-x64-msvc",
};

const target = process.argv.find((a) => a.startsWith("--target="))?.slice("--target=".length);
const hostPlatform = `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
const platform = target ? target.replace(/^bun-/, "").replace(/-(baseline|modern)$/, "") : hostPlatform;
const addon = ADDONS[platform];
if (!addon) {
  console.error(`build: no keyring addon known for ${platform}`);
  process.exit(2);
}

const directKeyringAddon: BunPlugin = {
  name: "direct-keyring-addon",
  setup(build) {
    build.onResolve({ filter: /^@napi-rs\/keyring$/ }, () => ({ path: "keyring-addon", namespace: "keyring-addon" }));
    build.onLoad({ filter: /.*/, namespace: "keyring-addon" }, () => ({
      contents: `const addon = require(${JSON.stringify(addon)});\nexport const AsyncEntry = addon.AsyncEntry;\nexport const Entry = addon.Entry;\n`,
      loader: "js",
    }));
  },
};

const commit = (await $`git rev-parse --short=12 HEAD`.quiet().nothrow()).stdout.toString().trim() || "unknown";
// ARA_BUILD_OUTDIR lets parallel work trees of one checkout build side by side (tests read ARA_BINARY).
const outdir = target ? join("dist", target) : (process.env.ARA_BUILD_OUTDIR || "dist");
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, platform.startsWith("windows") ? "agent-runner-auth.exe" : "agent-runner-auth");

const result = await Bun.build({
  entrypoints: ["src/cli/main.ts"],
  compile: target ? { target: target as Bun.Build.CompileTarget, outfile } : { outfile },
  minify: true,
  splitting: true,
  format: "esm",
  bytecode: platform === hostPlatform,
  sourcemap: "none",
  plugins: [directKeyringAddon],
  define: { BUILD_COMMIT: JSON.stringify(commit) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.error(`built ${outfile} (${platform}, ${commit})`);
