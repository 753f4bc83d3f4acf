/** Where each scope's settings live, as the symlink checks of `setup claude` see them. */
import { expect, test } from "bun:test";
import { backupPath, settingsDir, settingsPath } from "./settings.ts";

test("settingsDir has no trailing separator (lstat on 'link/' would follow the link)", () => {
  expect(settingsDir("user", { CLAUDE_CONFIG_DIR: "/home/u/cfg/" })).toBe("/home/u/cfg");
  expect(settingsDir("user", { CLAUDE_CONFIG_DIR: "/home/u/cfg//" })).toBe("/home/u/cfg");
  expect(settingsDir("user", { CLAUDE_CONFIG_DIR: "/" })).toBe("/");
  expect(settingsDir("user", { HOME: "/home/u" })).toBe("/home/u/.claude");
  expect(settingsDir("project", {}, "/repo")).toBe("/repo/.claude");
});

test("settingsPath and backupPath per scope", () => {
  expect(settingsPath("user", { CLAUDE_CONFIG_DIR: "/home/u/cfg/" })).toBe("/home/u/cfg/settings.json");
  expect(settingsPath("project", {}, "/repo")).toBe("/repo/.claude/settings.json");
  expect(settingsPath("local", {}, "/repo")).toBe("/repo/.claude/settings.local.json");
  expect(backupPath("/repo/.claude/settings.json")).toBe("/repo/.claude/settings.json.agent-runner-auth.bak");
});
