import { expect, test } from "bun:test";
import { compilePattern, compilePatterns } from "./patterns.ts";

const matches = (pattern: string, model: string) => compilePattern(pattern)(model);

test("an id without * matches only itself", () => {
  expect(matches("claude-haiku-4-5", "claude-haiku-4-5")).toBe(true);
  expect(matches("claude-haiku-4-5", "claude-haiku-4-5-20251001")).toBe(false);
  expect(matches("claude-haiku-4-5", "xclaude-haiku-4-5")).toBe(false);
});

test("* matches any run of characters, including none, and the whole id must match", () => {
  expect(matches("claude-haiku-*", "claude-haiku-4-5")).toBe(true);
  expect(matches("claude-haiku-*", "claude-haiku-")).toBe(true);
  expect(matches("claude-haiku-*", "us.claude-haiku-4-5")).toBe(false);
  expect(matches("*", "")).toBe(true);
  expect(matches("*", "anything at all")).toBe(true);
  expect(matches("*-haiku-*", "anthropic.claude-haiku-4-5-v1:0")).toBe(true);
  expect(matches("*-haiku-*", "claude-sonnet-4-5")).toBe(false);
  expect(matches("claude-*-4-5", "claude-sonnet-4-5")).toBe(true);
  expect(matches("claude-*-4-5", "claude-sonnet-4-5-20250929")).toBe(false);
});

test("middle pieces are found in order and may not overlap the prefix or suffix", () => {
  expect(matches("a*b*c", "abc")).toBe(true);
  expect(matches("a*b*c", "ac")).toBe(false);
  expect(matches("a*b*c", "acb")).toBe(false);
  expect(matches("ab*ba", "aba")).toBe(false); // the prefix and suffix overlap
  expect(matches("a*bb*a", "abba")).toBe(true);
  expect(matches("a*bb*a", "aba")).toBe(false);
  expect(matches("a**a", "aa")).toBe(true);
});

test("regular-expression characters mean themselves", () => {
  expect(matches("claude.haiku", "claudeXhaiku")).toBe(false);
  expect(matches("claude.haiku", "claude.haiku")).toBe(true);
  expect(matches("a+", "aa")).toBe(false);
});

test("no catastrophic backtracking: a hostile id against many stars is linear", () => {
  const pattern = "*a*a*a*a*a*a*a*a*a*a*b";
  const model = "a".repeat(100_000);
  const started = performance.now();
  expect(matches(pattern, model)).toBe(false);
  expect(performance.now() - started).toBeLessThan(50);
});

test("several patterns: any of them; * among them allows everything", () => {
  const m = compilePatterns(["claude-sonnet-*", "claude-haiku-*"]);
  expect(m("claude-haiku-4-5")).toBe(true);
  expect(m("claude-opus-4-1")).toBe(false);
  expect(compilePatterns(["x", "*"])("claude-opus-4-1")).toBe(true);
  expect(compilePatterns([])("claude-opus-4-1")).toBe(false);
});
