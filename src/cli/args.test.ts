/** The argument parser and durations (args.ts). */
import { describe, expect, test } from "bun:test";
import { parseArgs, parseDuration } from "./args.ts";
import { CliError } from "./errors.ts";
import { COMMANDS } from "./commands/registry.ts";

describe("arguments", () => {
  const specs = COMMANDS.find((c) => c.name === "login")!.options;
  test("values, lists, flags, --x=y and positionals", () => {
    const parsed = parseArgs(["https://t.example", "--profile=work", "--redirect-uri", "a", "--redirect-uri", "b", "--no-browser"], specs, "login");
    expect(parsed).toEqual({ flags: { "no-browser": true }, values: { profile: "work" }, lists: { "redirect-uri": ["a", "b"] }, positionals: ["https://t.example"] });
  });
  test("errors are usage errors (exit 2) naming the problem", () => {
    for (const [argv, message] of [
      [["--nope"], "unknown option --nope"],
      [["--profile"], "needs a value"],
      [["--profile", "--store"], "needs a value"],
      [["--no-browser=yes"], "takes no value"],
      [["-x"], "unknown option -x"],
    ] as const) {
      const error = (() => {
        try {
          parseArgs([...argv], specs, "login");
        } catch (e) {
          return e as CliError;
        }
      })();
      expect(error?.exitCode).toBe(2);
      expect(error?.message).toContain(message);
    }
  });
  test("durations", () => {
    expect(parseDuration("t", "300")).toBe(300_000);
    expect(parseDuration("t", "5m")).toBe(300_000);
    expect(parseDuration("t", "1.5h")).toBe(5_400_000);
    expect(parseDuration("t", "250ms")).toBe(250);
    expect(() => parseDuration("t", "-5m")).toThrow("--t must be a duration");
    expect(() => parseDuration("t", "5 minutes")).toThrow();
  });
});
