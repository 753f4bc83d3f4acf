/**
 * The narrow side-effect interfaces the surfaces modules take as parameters, and their real
 * adaptors over node:fs. The modules themselves never touch process.env, the file system, the
 * clock or the network: the wiring passes these in, the unit tests pass fakes.
 */
import { readFileSync, statSync } from "node:fs";
import { readRegularFile, UnsafePathError } from "../fs-atomic.ts";
import { SurfacesError } from "./errors.ts";

export type Env = Readonly<Record<string, string | undefined>>;
export type Platform = NodeJS.Platform;

/**
 * Reads a text file; null when it does not exist. `trusted: false` (files a cloned repository
 * controls: `.claude/settings*.json`, `.agent-runner-auth`) never follows a symlink and refuses
 * what is not a regular file; `trusted: true` (the user's and the administrator's own files)
 * follows links, as dotfile managers symlink ~/.claude/settings.json.
 * Throws SurfacesError (unsafe_path / unreadable_file) naming the file.
 */
export type ReadText = (path: string, options: { trusted: boolean }) => string | null;

/** Whether a path exists (any kind, links not followed is not required). */
export type Exists = (path: string) => boolean;

export const nodeReadText: ReadText = (path, { trusted }) => {
  try {
    if (!trusted) return readRegularFile(path)?.text ?? null;
    return readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof UnsafePathError) {
      throw new SurfacesError(
        "unsafe_path",
        e.code === "symlink"
          ? `refusing to read ${path}: it is a symbolic link (a link in a cloned repository could point at a secret)`
          : `refusing to read ${path}: it is not a regular file`,
        "Replace it with a regular file, or remove it.",
        { cause: e, path },
      );
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new SurfacesError("unreadable_file", `cannot read ${path}: ${(e as Error).message}`, "Check the file's permissions.", { cause: e, path });
  }
};

export const nodeExists: Exists = (path) => {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
};
