/**
 * Model patterns: `*` matches any run of characters (none included), everything else matches
 * itself, and the whole model id must match (`claude-haiku-*` does not match
 * `us.claude-haiku-4-5`). No regular expression is built from policy text, so a pattern can
 * neither inject regex syntax nor backtrack: matching is a prefix, a suffix and the middle
 * pieces found left to right (leftmost is always right when the only wildcard is `*`).
 */

export type ModelMatcher = (model: string) => boolean;

export function compilePattern(pattern: string): ModelMatcher {
  const parts = pattern.split("*");
  if (parts.length === 1) return (model) => model === pattern;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p !== "");
  const fixed = first.length + last.length;
  if (middle.length === 0) return (model) => model.length >= fixed && model.startsWith(first) && model.endsWith(last);
  return (model) => {
    if (model.length < fixed || !model.startsWith(first) || !model.endsWith(last)) return false;
    let at = first.length;
    const end = model.length - last.length;
    for (const piece of middle) {
      const found = model.indexOf(piece, at);
      if (found === -1 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
}

/** One matcher for several patterns (any of them). */
export function compilePatterns(patterns: readonly string[]): ModelMatcher {
  const unique = [...new Set(patterns)];
  if (unique.includes("*")) return () => true;
  const matchers = unique.map(compilePattern);
  return (model) => matchers.some((m) => m(model));
}
