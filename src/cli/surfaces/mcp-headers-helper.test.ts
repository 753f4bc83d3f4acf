import { expect, test } from "bun:test";
import { parse } from "jsonc-parser";
import { addHeadersHelper, headersHelperCommand, isOurHeadersHelper, removeHeadersHelper } from "./mcp-headers-helper.ts";

const HELPER = headersHelperCommand(["/usr/local/bin/agent-runner-auth"], "default", "linux");
const FILE = `{
    // team servers
    "mcpServers": {
        "docs": { "type": "http", "url": "https://mcp.example.com/docs", "headers": { "X-Team": "a" } },
        "events": { "type": "sse", "url": "https://mcp.example.com/sse" },
        "implicit": { "url": "https://mcp.example.com/x" },
        "local": { "command": "npx", "args": ["server"] },
    },
    "other": true,
}
`;

test("the command: absolute binary, token --format headers, profile quoted per platform", () => {
  expect(HELPER).toBe("/usr/local/bin/agent-runner-auth token --format headers");
  expect(headersHelperCommand(["/opt/my tools/agent-runner-auth"], "client-x", "linux")).toBe("'/opt/my tools/agent-runner-auth' token --format headers --profile client-x");
  expect(headersHelperCommand(["C:\\Program Files\\ara\\agent-runner-auth.exe"], "default", "win32")).toBe('"C:\\Program Files\\ara\\agent-runner-auth.exe" token --format headers');
  expect(isOurHeadersHelper(headersHelperCommand(["C:\\Program Files\\ara\\agent-runner-auth.exe"], "w", "win32"))).toBe(true);
  expect(isOurHeadersHelper("/opt/other --headers")).toBe(false);
});

test("adds to an http server: comments, indentation, other keys kept; idempotent; removable", () => {
  const added = addHeadersHelper(FILE, "/r/.mcp.json", "docs", HELPER);
  expect(added).toContain("// team servers");
  expect(added).toContain(`"headersHelper": "${HELPER}"`);
  // every other line exactly as it was
  for (const line of FILE.split("\n").filter((l) => !l.includes(`"docs"`))) expect(added.split("\n")).toContain(line);
  expect(addHeadersHelper(added, "/r/.mcp.json", "docs", HELPER)).toBe(added);
  const removed = removeHeadersHelper(added, "/r/.mcp.json", "docs");
  expect(removed).not.toContain("headersHelper");
  // jsonc-parser re-lays out the one object it edits (a one-line object becomes multi-line); its content is kept
  expect(parse(removed).mcpServers.docs).toEqual({ type: "http", url: "https://mcp.example.com/docs", headers: { "X-Team": "a" } });
  for (const line of FILE.split("\n").filter((l) => !l.includes(`"docs"`))) expect(removed.split("\n")).toContain(line);
  expect(removeHeadersHelper(FILE, "/r/.mcp.json", "docs")).toBe(FILE);
});

test("sse and url-only (http) servers accepted", () => {
  expect(addHeadersHelper(FILE, "p", "events", HELPER)).toContain("headersHelper");
  expect(addHeadersHelper(FILE, "p", "implicit", HELPER)).toContain("headersHelper");
});

test("refused: a missing server (naming those there), a stdio server, someone else's helper, broken JSON", () => {
  expect(() => addHeadersHelper(FILE, "/r/.mcp.json", "nope", HELPER)).toThrow(expect.objectContaining({ code: "mcp_server", exitCode: 2, message: expect.stringContaining(`"docs", "events"`) }));
  expect(() => addHeadersHelper(FILE, "p", "local", HELPER)).toThrow(expect.objectContaining({ code: "mcp_server", message: expect.stringContaining(`"stdio" server`) }));
  const theirs = addHeadersHelper(FILE, "p", "docs", HELPER).replace(HELPER, "/opt/vault-headers");
  expect(() => addHeadersHelper(theirs, "p", "docs", HELPER)).toThrow(expect.objectContaining({ code: "mcp_server" }));
  expect(removeHeadersHelper(theirs, "p", "docs")).toBe(theirs);
  expect(() => addHeadersHelper(`{"mcpServers": `, "p", "docs", HELPER)).toThrow(expect.objectContaining({ code: "bad_file" }));
  expect(() => addHeadersHelper(`{}`, "p", "docs", HELPER)).toThrow(expect.objectContaining({ code: "mcp_server" }));
});
