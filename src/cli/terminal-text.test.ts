import { expect, test } from "bun:test";
import { jsonForTerminal, sanitizeForTerminal, sanitizeLines } from "./terminal-text.ts";

const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const EVIL = "a\x1b[2Jb\x1b]52;c;ZXZpbA==\x07c\u009b31md\u202ee\u2066f\x7fg\r\nh\ti\u2028j";

test("sanitizeForTerminal shows every control and bidi character as a visible escape, on one line", () => {
  const out = sanitizeForTerminal(EVIL);
  expect(out).not.toMatch(UNSAFE);
  expect(out).not.toContain("\n");
  expect(out).toBe("a\\x1b[2Jb\\x1b]52;c;ZXZpbA==\\x07c\\x9b31md\\u202ee\\u2066f\\x7fg\\x0d\\x0ah\\x09i\\u2028j");
  expect(sanitizeForTerminal(out)).toBe(out); // idempotent: safe to apply at several layers
  expect(sanitizeForTerminal("Zoë 日本 ✓")).toBe("Zoë 日本 ✓"); // printable Unicode untouched
  expect(sanitizeForTerminal(undefined)).toBe("undefined");
});

test("sanitizeLines keeps our own newlines and tabs", () => {
  expect(sanitizeLines("one\n\ttwo\x1b[31m")).toBe("one\n\ttwo\\x1b[31m");
});

test("jsonForTerminal: the same JSON, with DEL, C1 and bidi escaped (JSON.stringify leaves them raw)", () => {
  const value = { user: EVIL, list: [EVIL], n: 1 };
  expect(JSON.stringify(value)).toMatch(/[\u009b\u202e]/); // the gap this closes
  const out = jsonForTerminal(value);
  expect(out.replace(/\n/g, "")).not.toMatch(UNSAFE);
  expect(JSON.parse(out)).toEqual(value);
  expect(out).toContain("\\u009b");
  expect(out).toContain("\\u202e");
});
