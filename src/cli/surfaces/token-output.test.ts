import { describe, expect, test } from "bun:test";
import { defaultShell, desktopBaseUrl, gatewayEnvironment, parseShell, parseTokenFormat, renderEnv, renderToken, sdkBaseUrl, validityLine } from "./token-output.ts";

const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln-_";

describe("renderToken", () => {
  test("bare: the token and a newline", () => {
    expect(renderToken("bare", JWT)).toBe(`${JWT}\n`);
  });
  test("desktop: Desktop's {token, headers} contract, one line", () => {
    const out = renderToken("desktop", JWT);
    expect(out.endsWith("\n")).toBe(true);
    expect(out.trim().includes("\n")).toBe(false);
    expect(JSON.parse(out)).toEqual({ token: JWT, headers: {} });
    expect(JSON.parse(renderToken("desktop", JWT, { "X-Tenant": "acme" }))).toEqual({ token: JWT, headers: { "X-Tenant": "acme" } });
  });
  test("headers: one JSON object of string headers for headersHelper; Authorization cannot be overridden", () => {
    expect(JSON.parse(renderToken("headers", JWT))).toEqual({ Authorization: `Bearer ${JWT}` });
    expect(JSON.parse(renderToken("headers", JWT, { Authorization: "Basic x", "X-A": "1" }))).toEqual({ Authorization: `Bearer ${JWT}`, "X-A": "1" });
  });
  test("refuses to print something that is not one printable word", () => {
    for (const bad of ["", "a b", "a\nb", "\u001b[2J", "x".repeat(16_385), "é"]) expect(() => renderToken("bare", bad)).toThrow(TypeError);
  });
  test("parseTokenFormat: default bare, unknown null", () => {
    expect(parseTokenFormat(undefined)).toBe("bare");
    expect(parseTokenFormat("desktop")).toBe("desktop");
    expect(parseTokenFormat("json")).toBeNull();
  });
});

test("base URLs: SDKs/env/exec get the seed's /anthropic/v1, Desktop the resource /anthropic", () => {
  expect(sdkBaseUrl("https://a.example.com/")).toBe("https://a.example.com/anthropic/v1");
  expect(desktopBaseUrl("https://a.example.com")).toBe("https://a.example.com/anthropic");
});

describe("shells", () => {
  test("defaultShell from $SHELL, PowerShell on Windows", () => {
    expect(defaultShell({ SHELL: "/usr/bin/fish" }, "linux")).toBe("fish");
    expect(defaultShell({ SHELL: "/bin/zsh" }, "darwin")).toBe("zsh");
    expect(defaultShell({ SHELL: "/bin/ksh" }, "linux")).toBe("sh");
    expect(defaultShell({}, "win32")).toBe("powershell");
    expect(defaultShell({}, "linux")).toBe("sh");
    expect(parseShell("pwsh")).toBe("powershell");
    expect(parseShell("cmd")).toBeNull();
  });
  test("the exact text per shell", () => {
    const env = { ANTHROPIC_BASE_URL: "https://a/x'y", ANTHROPIC_AUTH_TOKEN: "t" };
    expect(renderEnv("sh", env, ["ANTHROPIC_API_KEY"])).toBe(`unset ANTHROPIC_API_KEY;\nexport ANTHROPIC_BASE_URL='https://a/x'\\''y';\nexport ANTHROPIC_AUTH_TOKEN='t';\n`);
    expect(renderEnv("fish", env, ["ANTHROPIC_API_KEY"])).toBe(`set -e ANTHROPIC_API_KEY;\nset -gx ANTHROPIC_BASE_URL 'https://a/x\\'y';\nset -gx ANTHROPIC_AUTH_TOKEN 't';\n`);
    expect(renderEnv("powershell", { A: "it’s 'x'" }, ["B"])).toBe(`Remove-Item -ErrorAction SilentlyContinue Env:B\n$env:A = 'it’’s ''x'''\n`);
  });
  test("bad names and NUL are refused", () => {
    expect(() => renderEnv("sh", { "A;rm -rf /": "x" })).toThrow(TypeError);
    expect(() => renderEnv("sh", {}, ["$(x)"])).toThrow(TypeError);
    expect(() => renderEnv("sh", { A: "a\0b" })).toThrow(TypeError);
  });
  // Hostile values evaluated by real shells: each must come back byte for byte, nothing executed.
  const HOSTILE = ["https://h.example.com/a b", "x'; touch /tmp/pwned-surfaces; '", "$(id) `id` ${HOME} \\n \\", "line1\nline2", "\"double\" 'single'", "tab\tand\u00e9\u202e"];
  for (const shell of ["sh", "bash"] as const) {
    test(`${shell} evaluates the rendered lines to exactly the values`, () => {
      for (const value of HOSTILE) {
        const script = `${renderEnv(shell, { V: value }, ["ANTHROPIC_API_KEY"])}printf '%s' "$V"; printf '|%s' "\${ANTHROPIC_API_KEY-unset}"`;
        const run = Bun.spawnSync([shell === "sh" ? "/bin/sh" : "/bin/bash", "-c", script], { env: { PATH: "/usr/bin:/bin", ANTHROPIC_API_KEY: "sk-old" } });
        expect(run.exitCode).toBe(0);
        expect(run.stdout.toString()).toBe(`${value}|unset`);
      }
    });
  }
  test("fish and PowerShell quoting rules, checked by a reference unquoter", () => {
    // fish: inside '...', \\ -> \ and \' -> '; nothing else is special.
    const unfish = (w: string) => w.slice(1, -1).replace(/\\([\\'])/g, "$1");
    // PowerShell: inside '...', a doubled quote character (any of the four) is one.
    const unps = (w: string) => w.slice(1, -1).replace(/(['\u2018\u2019\u201a\u201b])\1/g, "$1");
    for (const value of [...HOSTILE, "back\\slash'", "‘smart’ ‚quotes‛"]) {
      const fish = renderEnv("fish", { V: value }).trim();
      expect(fish.startsWith("set -gx V '")).toBe(true);
      expect(unfish(fish.slice("set -gx V ".length, -1))).toBe(value);
      // no unescaped quote inside
      expect(/^'(?:[^'\\]|\\[\\'])*'$/s.test(fish.slice("set -gx V ".length, -1))).toBe(true);
      const ps = renderEnv("powershell", { V: value }).trim();
      const word = ps.slice("$env:V = ".length);
      expect(unps(word)).toBe(value);
      expect(/^'(?:[^'\u2018\u2019\u201a\u201b]|(['\u2018\u2019\u201a\u201b])\1)*'$/s.test(word)).toBe(true);
    }
  });
});

test("gatewayEnvironment sets the SDK base and the token, removes ANTHROPIC_API_KEY", () => {
  expect(gatewayEnvironment("https://a.example.com", JWT)).toEqual({ set: { ANTHROPIC_BASE_URL: "https://a.example.com/anthropic/v1", ANTHROPIC_AUTH_TOKEN: JWT }, unset: ["ANTHROPIC_API_KEY"] });
  expect(() => gatewayEnvironment("https://a.example.com", "a b")).toThrow(TypeError);
});

test("validityLine: whole minutes left, the instant, never negative", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  expect(validityLine(now + 59 * 60_000 + 59_000, now, "env")).toBe("agent-runner-auth: token valid for 59 min (until 2026-01-01T12:59:59Z); it is not refreshed, run `agent-runner-auth env` again after that.");
  expect(validityLine(now - 1000, now, "exec")).toContain("valid for 0 min");
});
