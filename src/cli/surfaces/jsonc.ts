/**
 * Reading JSON-with-comments files written by people (Claude Code's settings, our system-wide
 * configuration, `.agent-runner-auth`): comments and trailing commas allowed, as Claude Code
 * itself tolerates them; errors name the file and the line, never echo its content (it may
 * be a secret a link pointed at).
 */
import { parse, printParseErrorCode, type ParseError } from "jsonc-parser";
import { SurfacesError } from "./errors.ts";

export function parseJsoncObject(text: string, path: string, hint: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const first = errors[0]!;
    const line = text.slice(0, first.offset).split("\n").length;
    throw new SurfacesError("bad_file", `${path} is not valid JSON (${printParseErrorCode(first.error)} at line ${line})`, hint, { path });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SurfacesError("bad_file", `${path}: the top level is not a JSON object`, hint, { path });
  }
  return value as Record<string, unknown>;
}
