/** The real file adaptors of setup's Desktop and MCP parts. DesktopFiles (claude-desktop.ts): node:fs, atomic writes, a symlink or hard link/copy for the alias. */
import { copyFileSync, linkSync, lstatSync, readlinkSync, statSync, symlinkSync, unlinkSync, mkdirSync } from "node:fs";
import { dirname, posix, win32 } from "node:path";
import { randomUUID } from "node:crypto";
import { readRegularFile, UnsafePathError, writeFileAtomic } from "../../fs-atomic.ts";
import { ConfigError } from "../../errors.ts";
import { nodeExists, nodeReadText } from "../../surfaces/ports.ts";
import type { DesktopFiles } from "./claude-desktop.ts";
import type { McpFiles } from "./mcp-server.ts";

export const nodeDesktopFiles: DesktopFiles = {
  exists: nodeExists,
  read: (path) => nodeReadText(path, { trusted: true }),
  write: (path, text, mode) => writeFileAtomic(path, text, { mode, dirMode: 0o700 }),
  remove: (path) => {
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  },
  isLinked: (plan) => {
    try {
      if (plan.kind === "symlink") return readlinkSync(plan.path) === plan.target;
      return lstatSync(plan.path).ino === lstatSync(plan.target).ino;
    } catch {
      return false;
    }
  },
  link: (plan) => {
    mkdirSync(dirname(plan.path), { recursive: true, mode: 0o700 });
    nodeDesktopFiles.remove(plan.path);
    if (plan.kind === "symlink") return symlinkSync(plan.target, plan.path);
    try {
      linkSync(plan.target, plan.path);
    } catch {
      copyFileSync(plan.target, plan.path); // another volume: a copy (doctor compares versions)
    }
  },
  join: (platform, ...parts) => (platform === "win32" ? win32 : posix).join(...parts),
  newId: () => randomUUID(),
};

/** The real McpFiles (mcp-server.ts): a project's .mcp.json is never read through a symlink. */
export const nodeMcpFiles: McpFiles = {
  read: (path, trusted) => {
    if (trusted) {
      const text = nodeReadText(path, { trusted: true });
      return text === null ? null : { text, mode: statSync(path).mode & 0o777 };
    }
    try {
      return readRegularFile(path);
    } catch (e) {
      if (e instanceof UnsafePathError) throw new ConfigError(`refusing to use ${path}: it is a symbolic link or not a regular file; nothing was changed`, "Replace it with a regular file, then run this again.", { cause: e });
      throw new ConfigError(`cannot read ${path}: ${(e as Error).message}`, undefined, { cause: e });
    }
  },
  write: (path, text, mode) => writeFileAtomic(path, text, { mode, dirMode: 0o755 }),
};
