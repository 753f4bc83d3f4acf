/**
 * Atomic file writes (a crash mid-write leaves the previous file intact), and reads that do not
 * follow symlinks, for files in places someone else may have prepared (a cloned repository).
 */
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

export interface WriteOptions {
  /** File mode of the new file, exactly (umask does not apply; default 0600: everything this CLI writes is private). */
  mode?: number;
  /** Mode for directories created on the way (default 0700). */
  dirMode?: number;
}

/** A path this CLI will not read or write through: a symlink, or not a regular file. */
export class UnsafePathError extends Error {
  constructor(
    readonly code: "symlink" | "not-regular",
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`${path} ${code === "symlink" ? "is a symbolic link" : "is not a regular file"}`, options);
    this.name = "UnsafePathError";
  }
}

let tmpCounter = 0;
const TMP_ATTEMPTS = 5;
// O_EXCL: never opens an existing file, nor a symlink planted at the temporary name (even a dangling one).
const TMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export function ensurePrivateDir(dir: string, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
}

function createTemp(path: string, mode: number): { tmp: string; fd: number } {
  for (let attempt = 1; ; attempt++) {
    // Unique per process and call (no node:crypto here: it costs start-up time).
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}${(tmpCounter++).toString(36)}.tmp`);
    try {
      return { tmp, fd: openSync(tmp, TMP_FLAGS, mode) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= TMP_ATTEMPTS) throw e;
    }
  }
}

/** Writes to a temporary file in the same directory, fsyncs, then renames over the target. */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteOptions = {}): void {
  ensurePrivateDir(dirname(path), options.dirMode ?? 0o700);
  const mode = options.mode ?? 0o600;
  const { tmp, fd } = createTemp(path, mode);
  try {
    // The mode asked for, whatever the umask: a backup keeps its original's mode.
    if (process.platform !== "win32") fchmodSync(fd, mode);
    writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
  closeSync(fd);
  try {
    // rename replaces a symlink at `path` itself; it never writes through it.
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
}

/**
 * Reads a regular file without following a symlink at its last component and without blocking
 * on a FIFO; null when it does not exist. Also returns its permission bits.
 */
export function readRegularFile(path: string): { text: string; mode: number } | null {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP") throw new UnsafePathError("symlink", path, { cause: e });
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafePathError("not-regular", path);
    return { text: readFileSync(fd, "utf8"), mode: st.mode & 0o777 };
  } finally {
    closeSync(fd);
  }
}

/** Throws UnsafePathError when `path` is a symlink (an absent path is fine). */
export function refuseSymlink(path: string): void {
  let isLink = false;
  try {
    isLink = lstatSync(path).isSymbolicLink();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (isLink) throw new UnsafePathError("symlink", path);
}
