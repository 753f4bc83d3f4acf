/** Atomic writes: the old file survives a failed write, and no temporary file is left behind. */
import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./fs-atomic.ts";

test("a write replaces the file whole, mode 0600, in a 0700 directory", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "ara-atomic-")), "sub");
  const path = join(dir, "config.json");
  writeFileAtomic(path, "one");
  writeFileAtomic(path, "two");
  expect(readFileSync(path, "utf8")).toBe("two");
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  expect(readdirSync(dir)).toEqual(["config.json"]);
});

test("a write that fails halfway leaves the old content and no temporary file", () => {
  if (process.getuid?.() === 0) {
    // root ignores directory permissions: make the rename fail instead (target is a directory)
    const dir = mkdtempSync(join(tmpdir(), "ara-atomic-"));
    const target = join(dir, "target");
    require("node:fs").mkdirSync(target);
    writeFileSync(join(target, "keep"), "old");
    expect(() => writeFileAtomic(target, "new")).toThrow();
    expect(readFileSync(join(target, "keep"), "utf8")).toBe("old");
    expect(readdirSync(dir)).toEqual(["target"]);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "ara-atomic-"));
  const path = join(dir, "config.json");
  writeFileSync(path, "old");
  chmodSync(dir, 0o500);
  try {
    expect(() => writeFileAtomic(path, "new")).toThrow();
  } finally {
    chmodSync(dir, 0o700);
  }
  expect(readFileSync(path, "utf8")).toBe("old");
  expect(readdirSync(dir)).toEqual(["config.json"]);
});
