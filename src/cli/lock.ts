/**
 * The per-profile, cross-process lock that makes refresh and login single-flight.
 *
 * On Linux and macOS it is flock(2) on a separate lock file in the user's private state
 * directory, called through bun:ffi: the kernel releases it when the holder dies, even by
 * SIGKILL, so a crash can never leave a stale lock behind. (There is no flock in Bun's or
 * Node's standard library, and lock-file packages based on mkdir + mtime need a stale timeout of
 * seconds instead.) Windows, which has no flock, uses an exclusive-create lock file holding the
 * owner's pid, taken over when that process is gone. It cannot be tested on this machine.
 *
 * The lock must not be usable against the user: the lock directory must be a real directory of
 * theirs, private (a too-open one of theirs is fixed), and the lock file a regular file of theirs,
 * opened without following a symlink and without blocking (a FIFO would otherwise hang `token`).
 * The holder writes its pid into the file so a waiter can say whom it waits for.
 */
import { chmodSync, closeSync, constants, fchmodSync, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { stateDir } from "./paths.ts";
import { ensurePrivateDir } from "./fs-atomic.ts";
import { CliError, ExitCode } from "./errors.ts";

export interface HeldLock {
  release(): void;
}

export interface LongWait {
  /** The holder's pid, when it recorded one. */
  holderPid?: number;
  /** How much longer this caller will wait before giving up. */
  remainingMs: number;
}

export interface LockOptions {
  /** Give up after this long (the holder may be a login waiting for a human). */
  timeoutMs: number;
  /** Called once if the lock is busy, so the caller can say why it waits. */
  onWait?: () => void;
  /** Called once when the wait has lasted WAIT_NOTICE_MS: short waits (a refresh) stay quiet. */
  onLongWait?: (wait: LongWait) => void;
}

/** After this long a waiter says whom it waits for (a refresh under contention takes far less). */
export const WAIT_NOTICE_MS = 1500;
/** Overrides every caller's lock timeout (tests; or a user who prefers failing fast). */
export const LOCK_TIMEOUT_ENV = "AGENT_RUNNER_LOCK_TIMEOUT_MS";

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
  return join(lockDir(), `${name}.lock`);
}

function lockDir(): string {
  return join(stateDir(), "locks");
}

/** The effective timeout: AGENT_RUNNER_LOCK_TIMEOUT_MS when set, else the caller's. */
export function effectiveTimeoutMs(callerMs: number, env: Record<string, string | undefined> = process.env): number {
  const raw = env[LOCK_TIMEOUT_ENV];
  if (raw === undefined || raw === "") return callerMs;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new CliError(ExitCode.usage, `${LOCK_TIMEOUT_ENV} must be a whole number of milliseconds, got "${raw}"`, `Unset it (the default is ${Math.round(callerMs / 1000)} s) or set a number such as 60000.`);
  }
  return ms;
}

/** "45 s", "1 min 30 s", and whole minutes from 2 min on ("6 min"): for humans. */
export function formatWait(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s >= 120) return `${Math.round(s / 60)} min`;
  return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The holder's pid from the lock file's text (the holder writes "<pid>\n"). */
export function parseHolderPid(text: string): number | undefined {
  const match = /^(\d{1,10})\s*$/.exec(text);
  const pid = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** What a waiter says after WAIT_NOTICE_MS: whom it waits for, for how long at most. */
export function longWaitMessage(wait: LongWait): string {
  const who = wait.holderPid ? `process ${wait.holderPid}` : "another agent-runner-auth process";
  return `waiting for ${who} (a refresh or sign-in for this profile) to finish; giving up in ${formatWait(wait.remainingMs)}`;
}

/** The parts of a stat result the checks look at (node:fs Stats fits). */
export interface StatLike {
  uid: number;
  mode: number;
  nlink: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
}

/** What is wrong with the lock directory: null when fine, "chmod" when ours but too open. */
export function lockDirProblem(st: StatLike, uid: number): string | "chmod" | null {
  if (st.isSymbolicLink()) return "is a symbolic link";
  if (!st.isDirectory()) return "is not a directory";
  if (st.uid !== uid) return `belongs to another user (uid ${st.uid})`;
  return (st.mode & 0o077) !== 0 ? "chmod" : null;
}

/** What is wrong with an opened lock file (fstat), or with its path (lstat): null when fine. */
export function lockFileProblem(st: StatLike, uid: number): string | null {
  if (st.isSymbolicLink()) return "is a symbolic link";
  if (st.isFIFO()) return "is a FIFO (named pipe)";
  if (st.isDirectory()) return "is a directory";
  if (!st.isFile()) return "is not a regular file";
  if (st.uid !== uid) return `belongs to another user (uid ${st.uid})`;
  // A hard link to another file of ours (a token file) would be truncated by the holder.
  if (st.nlink > 1) return "has other hard links";
  return null;
}

function unsafeLock(path: string, problem: string): CliError {
  return new CliError(
    ExitCode.config,
    `refusing to use the session lock ${path}: it ${problem}`,
    "Someone may be trying to interfere with your session. Check who created it; if it is safe, remove it (it is recreated on the next run).",
  );
}

/** The real uid of this process: files are judged against the user who ran the command. */
const realUid = (): number => process.getuid?.() ?? -1;

/** Makes sure the lock directory is a private directory of this user (creating or tightening it). */
function securedLockDir(): string {
  const dir = lockDir();
  ensurePrivateDir(stateDir());
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  if (process.platform === "win32") return dir;
  const problem = lockDirProblem(lstatSync(dir), realUid());
  if (problem === "chmod") chmodSync(dir, 0o700);
  else if (problem) throw unsafeLock(dir, problem);
  return dir;
}

const OPEN_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Opens the lock file without following a symlink or blocking, and checks what was opened. */
export function openLockFile(path: string, uid = realUid()): number {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw unsafeLock(path, "is a symbolic link");
    if (code === "EISDIR") throw unsafeLock(path, "is a directory");
    let st: StatLike | undefined;
    try {
      st = lstatSync(path);
    } catch {}
    const problem = st && lockFileProblem(st, uid);
    if (problem) throw unsafeLock(path, problem);
    throw new CliError(ExitCode.config, `cannot open the session lock ${path}: ${(e as Error).message}`, "Check the permissions of that directory.");
  }
  const problem = lockFileProblem(fstatSync(fd), uid);
  if (problem) {
    closeSync(fd);
    throw unsafeLock(path, problem);
  }
  if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  return fd;
}

function readHolderPid(fd: number): number | undefined {
  try {
    const buf = Buffer.alloc(16);
    return parseHolderPid(buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString("latin1"));
  } catch {
    return undefined;
  }
}

async function poll(tryOnce: () => HeldLock | null, holder: () => number | undefined, path: string, options: LockOptions): Promise<HeldLock> {
  const timeoutMs = effectiveTimeoutMs(options.timeoutMs);
  const started = Date.now();
  const deadline = started + timeoutMs;
  let waited = false;
  let noticed = false;
  for (;;) {
    const held = tryOnce();
    if (held) return held;
    if (!waited) {
      waited = true;
      options.onWait?.();
    }
    const now = Date.now();
    if (now >= deadline) {
      const pid = holder();
      throw new CliError(
        ExitCode.authRequired,
        `gave up after ${formatWait(timeoutMs)}: ${pid ? `process ${pid}` : "another agent-runner-auth process"} kept the session lock (a refresh or sign-in for this profile)`,
        `Finish or cancel the other sign-in, then try again (lock file: ${path}; the wait limit is set by ${LOCK_TIMEOUT_ENV}).`,
      );
    }
    if (!noticed && now - started >= WAIT_NOTICE_MS) {
      noticed = true;
      options.onLongWait?.({ holderPid: holder(), remainingMs: deadline - now });
    }
    await sleep(15 + Math.random() * 25);
  }
}

async function acquireFlock(path: string, options: LockOptions): Promise<HeldLock> {
  const flock = await loadFlock();
  const fd = openLockFile(path);
  try {
    return await poll(
      () => {
        if (flock(fd, LOCK_EX | LOCK_NB) !== 0) return null;
        try {
          ftruncateSync(fd, 0);
          writeSync(fd, `${process.pid}\n`, 0);
        } catch {} // the pid is only for messages
        return {
          release: () => {
            try {
              ftruncateSync(fd, 0);
            } catch {}
            flock(fd, LOCK_UN);
            closeSync(fd);
          },
        };
      },
      () => readHolderPid(fd),
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

function readPidFile(path: string): number | undefined {
  try {
    return parseHolderPid(readFileSync(path, "utf8"));
  } catch {
    return undefined;
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
    () => readPidFile(path),
    path,
    options,
  );
}

/** Takes the named lock, waiting (polling) while another process holds it. */
export async function acquireLock(name: string, options: LockOptions): Promise<HeldLock> {
  const path = join(securedLockDir(), `${name}.lock`);
  return process.platform === "win32" ? acquirePidFile(path, options) : acquireFlock(path, options);
}
