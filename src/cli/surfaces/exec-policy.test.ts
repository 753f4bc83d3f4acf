import { expect, test } from "bun:test";
import { constants } from "node:os";
import { childEnvironment, exitCodeFor, FORWARDED_SIGNALS, IGNORED_WHILE_CHILD_RUNS, spawnFailureExitCode, spawnFailureMessage } from "./exec-policy.ts";
import { gatewayEnvironment } from "./token-output.ts";

test("the child's environment: the parent's, less ANTHROPIC_API_KEY, plus base URL and token", () => {
  const { set, unset } = gatewayEnvironment("https://a.example.com", "tok");
  const env = childEnvironment({ PATH: "/bin", HOME: "/h", ANTHROPIC_API_KEY: "sk-ant-x", ANTHROPIC_AUTH_TOKEN: "old", ANTHROPIC_BASE_URL: "https://api.anthropic.com", EMPTY: "", GONE: undefined }, set, unset);
  expect(env).toEqual({ PATH: "/bin", HOME: "/h", EMPTY: "", ANTHROPIC_BASE_URL: "https://a.example.com/anthropic/v1", ANTHROPIC_AUTH_TOKEN: "tok" });
});

test("exit codes: the child's code, or 128 + signal number (the shells' convention)", () => {
  const s = constants.signals as Record<string, number>;
  expect(exitCodeFor(0, null, s)).toBe(0);
  expect(exitCodeFor(3, null, s)).toBe(3);
  expect(exitCodeFor(null, "SIGTERM", s)).toBe(143);
  expect(exitCodeFor(null, "SIGINT", s)).toBe(130);
  expect(exitCodeFor(null, "SIGKILL", s)).toBe(137);
  expect(exitCodeFor(null, "SIGHUP", s)).toBe(129);
  expect(exitCodeFor(null, "SIGNOPE", s)).toBe(1);
});

test("the mapping matches what a real shell reports for a signalled child", () => {
  for (const signal of ["SIGTERM", "SIGKILL", "SIGHUP"] as const) {
    const direct = Bun.spawnSync(["/bin/sh", "-c", `kill -${signal.slice(3)} $$`]);
    const viaShell = Bun.spawnSync(["/bin/sh", "-c", `/bin/sh -c 'kill -${signal.slice(3)} $$'; exit $?`]);
    expect(direct.signalCode).toBe(signal);
    expect(exitCodeFor(direct.signalCode ? null : direct.exitCode, (direct.signalCode as string | undefined) ?? null, constants.signals as Record<string, number>)).toBe(viaShell.exitCode!);
  }
});

test("spawn failures: 127 not found, 126 not executable", () => {
  expect(spawnFailureExitCode("ENOENT")).toBe(127);
  expect(spawnFailureExitCode("EACCES")).toBe(126);
  expect(spawnFailureExitCode(undefined)).toBe(126);
  expect(spawnFailureMessage("clade", "ENOENT")).toBe(`"clade": command not found`);
  expect(spawnFailureMessage("x\u001b[2J", "EACCES")).not.toContain("\u001b");
});

test("signal sets do not overlap", () => {
  expect(FORWARDED_SIGNALS.some((s) => (IGNORED_WHILE_CHILD_RUNS as readonly string[]).includes(s))).toBe(false);
});
