/**
 * `setup claude --mcp-server NAME [--remove]`: our `headersHelper` on one MCP server entry of a
 * Claude settings file (`mcpServers`) or a `.mcp.json`, through jsonc-parser so every other key
 * and the formatting stay. Only http/sse servers take headers; a stdio server or a missing one is
 * refused (nothing is created: the server's URL is the user's to choose).
 */
import { applyEdits, modify, parse, type ParseError } from "jsonc-parser";
import { cmdQuote, shQuote } from "../claude/settings.ts";
import { SurfacesError } from "./errors.ts";

export function headersHelperCommand(commandWords: string[], profile: string, platform: string): string {
  const quote = platform === "win32" ? cmdQuote : shQuote;
  return [...commandWords.map(quote), "token", "--format", "headers", ...(profile === "default" ? [] : ["--profile", quote(profile)])].join(" ");
}

export function isOurHeadersHelper(value: unknown): boolean {
  return typeof value === "string" && /agent-runner-auth(\.exe)?["']?\s+token\s+--format\s+headers\b/.test(value);
}

function detectFormatting(text: string) {
  const match = /^([ \t]+)\S/m.exec(text);
  const insertSpaces = !match?.[1]?.startsWith("\t");
  return { insertSpaces, tabSize: insertSpaces ? (match?.[1]?.length ?? 2) : 1, eol: text.includes("\r\n") ? "\r\n" : "\n" };
}

function serverOf(text: string, path: string, name: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  const doc = parse(text, errors, { allowTrailingComma: true }) as unknown;
  if (errors.length > 0 || typeof doc !== "object" || doc === null) throw new SurfacesError("bad_file", `${path} is not valid JSON; it was left untouched`, "Fix the file, then run this again.", { path });
  const servers = (doc as Record<string, unknown>).mcpServers;
  const server = typeof servers === "object" && servers !== null ? (servers as Record<string, unknown>)[name] : undefined;
  const known = typeof servers === "object" && servers !== null ? Object.keys(servers).map((k) => JSON.stringify(k)).join(", ") : "";
  if (typeof server !== "object" || server === null) {
    throw new SurfacesError("mcp_server", `${path} has no MCP server named ${JSON.stringify(name)}${known ? ` (it has ${known})` : ""}`, "Add the server first (claude mcp add --transport http NAME URL), then run this again.", { path });
  }
  const s = server as Record<string, unknown>;
  const type = s.type ?? (typeof s.url === "string" ? "http" : "stdio");
  if (type !== "http" && type !== "sse") {
    throw new SurfacesError("mcp_server", `MCP server ${JSON.stringify(name)} in ${path} is a ${JSON.stringify(type)} server; only http and sse servers send headers`, "Name an http or sse server.", { path });
  }
  return s;
}

/** Sets headersHelper on the server (replacing another value only if it is ours). */
export function addHeadersHelper(text: string, path: string, name: string, helper: string): string {
  const server = serverOf(text, path, name);
  if (server.headersHelper === helper) return text;
  if (server.headersHelper !== undefined && !isOurHeadersHelper(server.headersHelper)) {
    throw new SurfacesError("mcp_server", `MCP server ${JSON.stringify(name)} in ${path} already has another headersHelper; it was left untouched`, "Remove it yourself if ours should replace it, then run this again.", { path });
  }
  return applyEdits(text, modify(text, ["mcpServers", name, "headersHelper"], helper, { formattingOptions: detectFormatting(text), getInsertionIndex: () => 0 }));
}

/** Takes our headersHelper off the server again (anything else is left). */
export function removeHeadersHelper(text: string, path: string, name: string): string {
  const server = serverOf(text, path, name);
  if (!isOurHeadersHelper(server.headersHelper)) return text;
  return applyEdits(text, modify(text, ["mcpServers", name, "headersHelper"], undefined, { formattingOptions: detectFormatting(text) }));
}
