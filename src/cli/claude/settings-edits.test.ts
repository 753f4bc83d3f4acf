/** Claude Code settings edits: merge, idempotence, formatting kept, refusal of bad JSON, quoting. */
import { describe, expect, test } from "bun:test";
import { applyManagedSettings, cmdQuote, helperCommand, helperTtlMs, isOurHelper, parseSettings, removeManagedSettings, settingsPath, shQuote } from "./settings.ts";

const managed = { baseUrl: "https://acme.proxy.example.com/anthropic/v1", ttlMs: 3_300_000, helper: "/usr/local/bin/agent-runner-auth token" };

describe("settings edits", () => {
  test("merge keeps other keys and their formatting; running twice changes nothing", () => {
    const before = '{\n    "model": "opus",\n    "permissions": {"allow": ["Bash(ls)"]},\n    "env": {"DISABLE_TELEMETRY": "1"}\n}\n';
    const after = applyManagedSettings(before, managed);
    expect(after).toContain('"permissions": {"allow": ["Bash(ls)"]}');
    expect(after).toContain('"model": "opus"');
    const parsed = parseSettings(after);
    expect(parsed).toMatchObject({ model: "opus", apiKeyHelper: managed.helper, env: { DISABLE_TELEMETRY: "1", ANTHROPIC_BASE_URL: managed.baseUrl, CLAUDE_CODE_API_KEY_HELPER_TTL_MS: "3300000" } });
    expect(applyManagedSettings(after, managed)).toBe(after);
  });

  test("an empty or missing file becomes exactly the seed's configuration", () => {
    expect(parseSettings(applyManagedSettings("", managed))).toEqual({
      apiKeyHelper: managed.helper,
      env: { CLAUDE_CODE_API_KEY_HELPER_TTL_MS: "3300000", ANTHROPIC_BASE_URL: managed.baseUrl },
    });
  });

  test("invalid JSON is refused with where it is wrong", () => {
    expect(() => applyManagedSettings('{"model": "opus",}', managed)).toThrow(/line 1/);
    expect(() => applyManagedSettings('{\n  "a": 1\n  "b": 2\n}', managed)).toThrow(/CommaExpected at line 3/);
    expect(() => applyManagedSettings("[1, 2]", managed)).toThrow("not a JSON object");
    expect(() => applyManagedSettings('{"a": 1} // note', managed)).toThrow();
  });

  test("remove takes out only our keys, and only when the helper is ours", () => {
    const mine = applyManagedSettings('{"model": "opus", "env": {"X": "1"}}', managed);
    expect(parseSettings(removeManagedSettings(mine))).toEqual({ model: "opus", env: { X: "1" } });
    const onlyMine = applyManagedSettings("{}", managed);
    expect(parseSettings(removeManagedSettings(onlyMine))).toEqual({});
    const theirs = '{"apiKeyHelper": "vault read anthropic", "env": {"ANTHROPIC_BASE_URL": "https://x"}}';
    expect(removeManagedSettings(theirs)).toBe(theirs);
  });
});

describe("the helper command", () => {
  test("quoted for sh and for cmd; absolute, no ~", () => {
    expect(helperCommand(["/usr/local/bin/agent-runner-auth"], "default", "linux")).toBe("/usr/local/bin/agent-runner-auth token");
    expect(helperCommand(["/Users/Jo Doe/bin/agent-runner-auth"], "work", "darwin")).toBe("'/Users/Jo Doe/bin/agent-runner-auth' token --profile work");
    expect(helperCommand(["C:\\Program Files\\agent-runner-auth\\agent-runner-auth.exe"], "default", "win32")).toBe('"C:\\Program Files\\agent-runner-auth\\agent-runner-auth.exe" token');
    expect(shQuote("it's")).toBe("'it'\\''s'");
    expect(cmdQuote('a"b c')).toBe('"a""b c"');
    expect(isOurHelper(helperCommand(["/Users/Jo Doe/bin/agent-runner-auth"], "work", "darwin"))).toBe(true);
    expect(isOurHelper('"C:\\x\\agent-runner-auth.exe" token')).toBe(true);
    expect(isOurHelper("aws sso get-token")).toBe(false);
  });

  test("the TTL sits just under the access token lifetime (seed: 55 min for 1 h)", () => {
    expect(helperTtlMs(3600)).toBe(3_300_000);
    expect(helperTtlMs(undefined)).toBe(3_300_000);
    expect(helperTtlMs(600)).toBe(450_000);
    expect(helperTtlMs(10)).toBe(7_500);
  });

  test("scopes map to Claude Code's files", () => {
    expect(settingsPath("user", { HOME: "/home/jo" }, "/w")).toBe("/home/jo/.claude/settings.json");
    expect(settingsPath("user", { HOME: "/home/jo", CLAUDE_CONFIG_DIR: "/cfg" }, "/w")).toBe("/cfg/settings.json");
    expect(settingsPath("project", {}, "/w")).toBe("/w/.claude/settings.json");
    expect(settingsPath("local", {}, "/w")).toBe("/w/.claude/settings.local.json");
  });
});
