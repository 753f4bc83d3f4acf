/**
 * What every release step shares: the targets, the release metadata (version, description,
 * source date) read once by the main script, and the one place that runs external tools.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Target {
  bun: string;
  os: "linux" | "darwin" | "windows";
  arch: "amd64" | "arm64";
  addon: string;
  npmName: string;
  npmOs: string;
  npmCpu: string;
}

export const TARGETS: Target[] = [
  { bun: "bun-linux-x64", os: "linux", arch: "amd64", addon: "@napi-rs/keyring-linux-x64-gnu", npmName: "linux-x64", npmOs: "linux", npmCpu: "x64" },
  { bun: "bun-linux-arm64", os: "linux", arch: "arm64", addon: "@napi-rs/keyring-linux-arm64-gnu", npmName: "linux-arm64", npmOs: "linux", npmCpu: "arm64" },
  { bun: "bun-darwin-arm64", os: "darwin", arch: "arm64", addon: "@napi-rs/keyring-darwin-arm64", npmName: "darwin-arm64", npmOs: "darwin", npmCpu: "arm64" },
  { bun: "bun-darwin-x64", os: "darwin", arch: "amd64", addon: "@napi-rs/keyring-darwin-x64", npmName: "darwin-x64", npmOs: "darwin", npmCpu: "x64" },
  { bun: "bun-windows-x64", os: "windows", arch: "amd64", addon: "@napi-rs/keyring-win32-x64-msvc", npmName: "win32-x64", npmOs: "win32", npmCpu: "x64" },
];

export const REPO = "https://github.com/copebit/agent-runner-auth";
export const MAINTAINER = "copebit AG <agent-runner@copebit.ch>";

/** The facts the renderers need; pure data, so each renderer can be unit-tested with made-up values. */
export interface ReleaseMeta {
  version: string;
  description: string;
  /** Seconds since the epoch: the last commit's time, so artefacts are reproducible. */
  sourceDateEpoch: string;
}

export interface ReleaseContext extends ReleaseMeta {
  root: string;
  out: string;
}

/** YYYY-MM-DD of the source date (man page, winget ReleaseDate). */
export const releaseDate = (meta: Pick<ReleaseMeta, "sourceDateEpoch">): string => new Date(Number(meta.sourceDateEpoch) * 1000).toISOString().slice(0, 10);

export const archiveName = (version: string, t: Pick<Target, "os" | "arch">): string => `agent-runner-auth_${version}_${t.os}_${t.arch}.${t.os === "windows" ? "zip" : "tar.gz"}`;
export const binaryName = (t: Pick<Target, "os">): string => (t.os === "windows" ? "agent-runner-auth.exe" : "agent-runner-auth");
export const releaseUrl = (version: string, file: string): string => `${REPO}/releases/download/v${version}/${file}`;

export class ToolError extends Error {
  readonly code = "tool_failed";
  constructor(
    readonly command: string,
    readonly status: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (${status}): ${stderr}`);
  }
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
}

export function run(root: string, command: string, args: string[], options: RunOptions = {}): string {
  const result = spawnSync(command, args, { cwd: options.cwd ?? root, env: { ...process.env, ...options.env }, encoding: "utf8", input: options.input, maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new ToolError(`${command} ${args.join(" ")}`, result.status, result.stderr);
  return result.stdout;
}

/** Reads the release facts: package.json and the last commit's time (SOURCE_DATE_EPOCH wins). */
export function loadContext(root: string): ReleaseContext {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; description: string };
  const commitTime = spawnSync("git", ["log", "-1", "--format=%ct"], { cwd: root, encoding: "utf8" }).stdout?.trim();
  return {
    root,
    out: join(root, "dist", "release"),
    version: pkg.version,
    description: pkg.description,
    sourceDateEpoch: process.env.SOURCE_DATE_EPOCH ?? (commitTime || String(Math.floor(Date.now() / 1000))),
  };
}
