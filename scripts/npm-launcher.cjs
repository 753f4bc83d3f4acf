#!/usr/bin/env node
// agent-runner-auth on npm: this launcher runs the native binary from the optional package for
// this platform (@agent-runner-auth/<os>-<cpu>), like esbuild and Biome. No postinstall script,
// no download. `agent-runner-auth setup claude` writes the native binary's own path into Claude
// Code's settings, so the helper does not pay Node's start-up on every call.
"use strict";
const { spawnSync } = require("node:child_process");

const packages = { "linux x64": "linux-x64", "linux arm64": "linux-arm64", "darwin arm64": "darwin-arm64", "darwin x64": "darwin-x64", "win32 x64": "win32-x64" };
const name = packages[`${process.platform} ${process.arch}`];
if (!name) {
  console.error(`agent-runner-auth: no binary is published for ${process.platform}-${process.arch}`);
  process.exit(70);
}
let binary;
try {
  binary = require.resolve(`@agent-runner-auth/${name}/bin/agent-runner-auth${process.platform === "win32" ? ".exe" : ""}`);
} catch {
  console.error(`agent-runner-auth: the package @agent-runner-auth/${name} is missing (installed with --omit=optional?). Reinstall: npm install -g agent-runner-auth`);
  process.exit(70);
}
const result = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
if (result.error) {
  console.error(`agent-runner-auth: cannot run ${binary}: ${result.error.message}`);
  process.exit(70);
}
if (result.signal) process.kill(process.pid, result.signal);
process.exit(result.status ?? 1);
