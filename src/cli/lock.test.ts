/** The lock's checks and messages (pure), and a real in-process wait on a held flock. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, effectiveTimeoutMs, formatWait, lockDirProblem, lockFileProblem, longWaitMessage, openLockFile, parseHolderPid, WAIT_NOTICE_MS, type LongWait, type StatLike } from "./lock.ts";
import { CliError } from "./errors.ts";

function stat(kind: "file" | "dir" | "link" | "fifo" | "socket", uid = 1000, mode = 0o600, nlink = 1): StatLike {
  return { uid, mode, nlink, isFile: () => kind === "file", isDirectory: () => kind === "dir", isSymbolicLink: () => kind === "link", isFIFO: () => kind === "fifo" };
}

test("the lock directory: ours and private is fine, ours and too open is chmodded, anything else is refused", () => {
  expect(lockDirProblem(stat("dir", 1000, 0o700), 1000)).toBeNull();
  expect(lockDirProblem(stat("dir", 1000, 0o777), 1000)).toBe("chmod");
  expect(lockDirProblem(stat("dir", 1000, 0o750), 1000)).toBe("chmod");
  expect(lockDirProblem(stat("dir", 0, 0o700), 1000)).toBe("belongs to another user (uid 0)");
  expect(lockDirProblem(stat("link", 1000), 1000)).toBe("is a symbolic link");
  expect(lockDirProblem(stat("file", 1000), 1000)).toBe("is not a directory");
});

test("the lock file: only a regular, singly linked file of ours", () => {
  expect(lockFileProblem(stat("file"), 1000)).toBeNull();
  expect(lockFileProblem(stat("file", 65534), 1000)).toBe("belongs to another user (uid 65534)");
  expect(lockFileProblem(stat("file", 1000, 0o600, 2), 1000)).toBe("has other hard links");
  expect(lockFileProblem(stat("fifo"), 1000)).toBe("is a FIFO (named pipe)");
  expect(lockFileProblem(stat("link"), 1000)).toBe("is a symbolic link");
  expect(lockFileProblem(stat("dir"), 1000)).toBe("is a directory");
  expect(lockFileProblem(stat("socket"), 1000)).toBe("is not a regular file");
});

test("openLockFile refuses a FIFO without blocking, a symlink without following it, a directory", () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-lockunit-"));
  const uid = process.getuid!();
  expect(spawnSync("mkfifo", [join(dir, "fifo")]).status).toBe(0);
  writeFileSync(join(dir, "target"), "x");
  symlinkSync(join(dir, "target"), join(dir, "link"));
  mkdirSync(join(dir, "sub"));
  for (const [name, problem] of [["fifo", "is a FIFO"], ["link", "is a symbolic link"], ["sub", "is a directory"]]) {
    const error = (() => {
      try {
        openLockFile(join(dir, name!), uid);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(5);
    expect((error as CliError).message).toContain(problem!);
  }
  expect(() => openLockFile(join(dir, "target"), uid + 1)).toThrow(`belongs to another user (uid ${uid})`);
  expect(lstatSync(join(dir, "target")).isFile()).toBe(true);
});

test("AGENT_RUNNER_LOCK_TIMEOUT_MS overrides the caller's timeout; garbage is a usage error", () => {
  expect(effectiveTimeoutMs(360_000, {})).toBe(360_000);
  expect(effectiveTimeoutMs(360_000, { AGENT_RUNNER_LOCK_TIMEOUT_MS: "" })).toBe(360_000);
  expect(effectiveTimeoutMs(360_000, { AGENT_RUNNER_LOCK_TIMEOUT_MS: "2500" })).toBe(2500);
  for (const bad of ["soon", "-1", "1.5", "1e400"]) {
    expect(() => effectiveTimeoutMs(360_000, { AGENT_RUNNER_LOCK_TIMEOUT_MS: bad })).toThrow("must be a whole number of milliseconds");
  }
});

test("the holder's pid and the wait message", () => {
  expect(parseHolderPid("4242\n")).toBe(4242);
  expect(parseHolderPid("")).toBeUndefined();
  expect(parseHolderPid("0\n")).toBeUndefined();
  expect(parseHolderPid("12 34")).toBeUndefined();
  expect(formatWait(3400)).toBe("4 s");
  expect(formatWait(358_500)).toBe("6 min");
  expect(formatWait(90_000)).toBe("1 min 30 s");
  expect(longWaitMessage({ holderPid: 77, remainingMs: 358_500 })).toBe("waiting for process 77 (a refresh or sign-in for this profile) to finish; giving up in 6 min");
  expect(longWaitMessage({ remainingMs: 5000 })).toContain("waiting for another agent-runner-auth process");
});

let savedState: string | undefined;
beforeEach(() => {
  savedState = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = mkdtempSync(join(tmpdir(), "ara-lockstate-"));
});
afterEach(() => {
  if (savedState === undefined) delete process.env.XDG_STATE_HOME;
  else process.env.XDG_STATE_HOME = savedState;
});

test("a waiter on a held lock: one notice after WAIT_NOTICE_MS naming the holder, then the timeout error", async () => {
  const held = await acquireLock("unit", { timeoutMs: 1000 });
  try {
    const notices: { at: number; wait: LongWait }[] = [];
    const started = Date.now();
    const error = await acquireLock("unit", { timeoutMs: 2200, onLongWait: (wait) => notices.push({ at: Date.now() - started, wait }) }).catch((e) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(1);
    expect((error as CliError).message).toBe(`gave up after 3 s: process ${process.pid} kept the session lock (a refresh or sign-in for this profile)`);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.wait.holderPid).toBe(process.pid);
    expect(notices[0]!.at).toBeGreaterThanOrEqual(WAIT_NOTICE_MS);
    expect(notices[0]!.wait.remainingMs).toBeLessThanOrEqual(2200 - WAIT_NOTICE_MS);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2200);
  } finally {
    held.release();
  }
  // released: the next caller gets it at once, and silently
  const notices: LongWait[] = [];
  const again = await acquireLock("unit", { timeoutMs: 1000, onLongWait: (w) => notices.push(w) });
  again.release();
  expect(notices).toEqual([]);
});
