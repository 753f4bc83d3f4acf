/**
 * Untrusted text (what the IdP, the tenant or the proxy says, claims from tokens, URLs) made safe
 * for a terminal. A terminal obeys escape sequences: ESC[2J clears it, OSC 52 writes the
 * clipboard, OSC 8 makes hidden links, a C1 CSI (U+009B) does what ESC[ does on some terminals,
 * and bidi overrides (U+202A-202E, U+2066-2069) make text read differently from what it is. So
 * every such character is shown as a visible escape (`\x1b`, `\u202e`) instead: inert, and the
 * user still sees that something odd was sent. No imports.
 */

/** C0 (but tab and newline), DEL, C1, bidi embeddings/overrides/isolates, line/paragraph separators. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_OR_BREAK = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw in strings (it escapes C0 itself; indentation is C0 outside strings). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * One line of untrusted text: control characters and bidi controls shown as escapes, newlines and
 * tabs too (a remote message cannot start a line of its own that looks like ours).
 */
export function sanitizeForTerminal(text: unknown): string {
  return String(text).replace(UNSAFE_OR_BREAK, visible);
}

/** Last resort for our own messages (which may span lines): everything but tab and newline. */
export function sanitizeLines(text: string): string {
  return text.replace(UNSAFE, visible);
}

/**
 * JSON for stdout: JSON.stringify escapes C0 (ESC included) but leaves DEL, C1 and bidi controls
 * raw; these become \uXXXX escapes, so the document is the same JSON and inert on a terminal.
 * (Outside strings JSON has only ASCII, so the replacement is always inside a string.)
 */
export function jsonForTerminal(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
