import { expect, test } from "bun:test";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeExists, nodeReadText } from "./ports.ts";

test("the real reader: untrusted never follows a symlink, trusted does; absent is null", () => {
  const dir = mkdtempSync(join(tmpdir(), "surfaces-ports-"));
  writeFileSync(join(dir, "secret"), "s3cret");
  symlinkSync(join(dir, "secret"), join(dir, "link"));
  expect(() => nodeReadText(join(dir, "link"), { trusted: false })).toThrow(expect.objectContaining({ code: "unsafe_path", message: expect.not.stringContaining("s3cret") }));
  expect(nodeReadText(join(dir, "link"), { trusted: true })).toBe("s3cret");
  expect(nodeReadText(join(dir, "none"), { trusted: false })).toBeNull();
  expect(nodeReadText(join(dir, "none", "x"), { trusted: true })).toBeNull();
  expect(() => nodeReadText(dir, { trusted: false })).toThrow(expect.objectContaining({ code: "unsafe_path" }));
  expect(nodeExists(dir)).toBe(true);
  expect(nodeExists(join(dir, "none"))).toBe(false);
});
