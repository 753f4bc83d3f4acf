/** Symlinks, FIFOs and modes in the atomic writer and the no-follow reader. */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRegularFile, refuseSymlink, UnsafePathError, writeFileAtomic } from "./fs-atomic.ts";

const fresh = () => mkdtempSync(join(tmpdir(), "ara-fsa-"));

test("the mode asked for is the mode written, whatever the umask", () => {
  const dir = fresh();
  const previous = process.umask(0o077);
  try {
    writeFileAtomic(join(dir, "a"), "x", { mode: 0o640 });
    writeFileAtomic(join(dir, "b"), "x", { mode: 0o664 });
  } finally {
    process.umask(previous);
  }
  expect(statSync(join(dir, "a")).mode & 0o777).toBe(0o640);
  expect(statSync(join(dir, "b")).mode & 0o777).toBe(0o664);
});

test("a symlink at the target is replaced by the new file, never written through", () => {
  const dir = fresh();
  writeFileSync(join(dir, "precious"), "precious");
  symlinkSync(join(dir, "precious"), join(dir, "backup"));
  writeFileAtomic(join(dir, "backup"), "new");
  expect(lstatSync(join(dir, "backup")).isFile()).toBe(true);
  expect(readFileSync(join(dir, "backup"), "utf8")).toBe("new");
  expect(readFileSync(join(dir, "precious"), "utf8")).toBe("precious");
});

test("symlinks planted at the temporary names are never followed (O_EXCL): the write fails, the target is untouched", () => {
  const dir = fresh();
  writeFileSync(join(dir, "precious"), "precious");
  const realNow = Date.now;
  Date.now = () => 1_700_000_000_000; // the names become predictable: plant every one the next calls could use
  try {
    const stamp = (1_700_000_000_000).toString(36);
    for (let counter = 0; counter < 200; counter++) symlinkSync(join(dir, "precious"), join(dir, `.out.${process.pid}.${stamp}${counter.toString(36)}.tmp`));
    expect(() => writeFileAtomic(join(dir, "out"), "attacker reads this")).toThrow();
  } finally {
    Date.now = realNow;
  }
  expect(readFileSync(join(dir, "precious"), "utf8")).toBe("precious");
  expect(readdirSync(dir)).not.toContain("out");
});

test("readRegularFile: content and mode; null when absent; a symlink or a FIFO is refused at once", () => {
  const dir = fresh();
  writeFileSync(join(dir, "settings.json"), "{}", { mode: 0o640 });
  expect(readRegularFile(join(dir, "settings.json"))).toEqual({ text: "{}", mode: 0o640 });
  expect(readRegularFile(join(dir, "missing.json"))).toBeNull();
  symlinkSync(join(dir, "settings.json"), join(dir, "link.json"));
  expect(() => readRegularFile(join(dir, "link.json"))).toThrow(UnsafePathError);
  expect(spawnSync("mkfifo", [join(dir, "fifo")]).status).toBe(0);
  const error = (() => {
    try {
      readRegularFile(join(dir, "fifo"));
    } catch (e) {
      return e as UnsafePathError;
    }
  })();
  expect(error?.code).toBe("not-regular");
});

test("refuseSymlink: a linked directory is refused, a real or missing one is fine", () => {
  const dir = fresh();
  symlinkSync(tmpdir(), join(dir, "linked"));
  expect(() => refuseSymlink(join(dir, "linked"))).toThrow(`${join(dir, "linked")} is a symbolic link`);
  expect(() => refuseSymlink(dir)).not.toThrow();
  expect(() => refuseSymlink(join(dir, "missing"))).not.toThrow();
});
