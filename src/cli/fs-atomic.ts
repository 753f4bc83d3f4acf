/** Atomic file writes: a crash mid-write leaves the previous file intact. */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

export interface WriteOptions {
  /** File mode of the new file (default 0600: everything this CLI writes is private). */
  mode?: number;
  /** Mode for directories created on the way (default 0700). */
  dirMode?: number;
}

let tmpCounter = 0;

export function ensurePrivateDir(dir: string, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
}

/** Writes to a temporary file in the same directory, fsyncs, then renames over the target. */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteOptions = {}): void {
  const dir = dirname(path);
  ensurePrivateDir(dir, options.dirMode ?? 0o700);
  // Unique per process and call; "wx" refuses to reuse a name, so no other writer is clobbered.
  // (No node:crypto here: this module is on the `token` start-up path.)
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}${(tmpCounter++).toString(36)}.tmp`);
  const fd = openSync(tmp, "wx", options.mode ?? 0o600);
  try {
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
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
}
