/**
 * The per-profile, cross-process lock that makes refresh and login single-flight.
 *
 * On Linux and macOS it is flock(2) on a separate lock file in the user's private state
 * directory, called through bun:ffi: the kernel releases it when the holder dies, even by
 * SIGKILL, so a crash can never leave a stale lock behind. (There is no flock in Bun's or
 * Node's standard library, and lock-file packages based on mkdir + mtime need a stale timeout of
 * seconds instead.) Windows, which has no flock, uses an exclusive-create lock file holding the
 * owner's pid, taken over when that process is gone. It cannot be tested on this machine.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stateDir } from "./paths.ts";
import { ensurePrivateDir } from "./fs-atomic.ts";
import { CliError, ExitCode } from "./errors.ts";

export interface HeldLock {
  release(): void;
}

export interface LockOptions {
  /** Give up after this long (the holder may be a login waiting for a human). */
  timeoutMs: number;
  /** Called once if the lock is busy, so the caller can say why it waits. */
  onWait?: () => void;
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

type Flock = (fd: number, operation: number) => number;
let flockFn: Flock | undefined;

async function loadFlock(): Promise<Flock> {
  if (flockFn) return flockFn;
  const { dlopen, FFIType } = await import("bun:ffi");
  const libc = process.platform === "darwin" ? "libSystem.B.dylib" : "libc.so.6";
  const lib = dlopen(libc, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
  flockFn = (fd, op) => lib.symbols.flock(fd, op);
  return flockFn;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function lockPath(name: string): string {
  return join(stateDir(), "locks", `${name}.lock`);
}

async function poll(tryOnce: () => HeldLock | null, path: string, options: LockOptions): Promise<HeldLock> {
  const deadline = Date.now() + options.timeoutMs;
  let waited = false;
  for (;;) {
    const held = tryOnce();
    if (held) return held;
    if (!waited) {
      waited = true;
      options.onWait?.();
    }
    if (Date.now() >= deadline) {
      throw new CliError(
        ExitCode.authRequired,
        `another agent-runner-auth process kept the session lock for ${Math.round(options.timeoutMs / 1000)} s`,
        `Finish or cancel the other login, then try again (lock file: ${path}).`,
      );
    }
    await sleep(15 + Math.random() * 25);
  }
}

async function acquireFlock(path: string, options: LockOptions): Promise<HeldLock> {
  const flock = await loadFlock();
  const fd = openSync(path, "a", 0o600);
  try {
    return await poll(
      () =>
        flock(fd, LOCK_EX | LOCK_NB) === 0
          ? {
              release: () => {
                flock(fd, LOCK_UN);
                closeSync(fd);
              },
            }
          : null,
      path,
      options,
    );
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function acquirePidFile(path: string, options: LockOptions): Promise<HeldLock> {
  return poll(
    () => {
      try {
        const fd = openSync(path, "wx", 0o600);
        writeFileSync(fd, String(process.pid));
        closeSync(fd);
        return { release: () => unlinkSync(path) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const owner = Number(readFileSync(path, "utf8"));
        if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) unlinkSync(path);
        return null;
      }
    },
    path,
    options,
  );
}

/** Takes the named lock, waiting (polling) while another process holds it. */
export async function acquireLock(name: string, options: LockOptions): Promise<HeldLock> {
  const path = lockPath(name);
  ensurePrivateDir(join(stateDir(), "locks"));
  return process.platform === "win32" ? acquirePidFile(path, options) : acquireFlock(path, options);
}
