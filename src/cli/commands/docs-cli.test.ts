/**
 * docs/cli.md documents every command and option of the registry (the table `--help`, the man
 * page and the completions are rendered from), each option under its own command's heading, and
 * every environment variable the CLI reads in its Environment table.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS } from "./registry.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const doc = readFileSync(join(ROOT, "docs", "cli.md"), "utf8");

/** The text under a heading, up to the next heading of any level. */
function section(heading: string): string | null {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start === -1) return null;
  const rest = doc.slice(start + heading.length + 2);
  const end = rest.search(/^#{2,3} /m);
  return end === -1 ? rest : rest.slice(0, end);
}

test("every registry command has its own section in docs/cli.md, naming each of its options", () => {
  const missing: string[] = [];
  for (const command of COMMANDS) {
    const text = section(`### \`${command.name}\``);
    if (text === null) {
      missing.push(`### \`${command.name}\``);
      continue;
    }
    for (const option of command.options) if (!text.includes(`\`--${option.name}`)) missing.push(`${command.name} --${option.name}`);
  }
  expect(missing).toEqual([]);
  expect(COMMANDS.length).toBeGreaterThan(15); // the gateway commands are in the registry too
});

/** Every non-test .ts file under a directory. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") ? [path] : [];
  });
}

test("the Environment table names every variable the CLI reads", () => {
  const table = section("## Environment");
  expect(table).not.toBeNull();
  const read = new Set<string>();
  for (const file of sources(join(ROOT, "src", "cli"))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\benv\.([A-Z][A-Za-z0-9_]*)\b/g)) read.add(m[1]!);
    for (const m of text.matchAll(/\benv\[["']([A-Za-z_][A-Za-z0-9_]*)["']\]/g)) read.add(m[1]!);
    for (const m of text.matchAll(/["'`]((?:AGENT_RUNNER|CLAUDE)_[A-Z0-9_]+)["'`]/g)) read.add(m[1]!);
  }
  // ANTHROPIC_* are what setup/exec write (and read back from settings files), documented there.
  const undocumented = [...read].filter((name) => !name.startsWith("ANTHROPIC_") && !table!.includes(`\`${name}\``)).sort();
  expect(undocumented).toEqual([]);
  for (const name of ["AGENT_RUNNER_TENANT", "AGENT_RUNNER_AUTH_SYSTEM_CONFIG", "AGENT_RUNNER_LOCK_TIMEOUT_MS", "AGENT_RUNNER_AUTH_DESKTOP_PLATFORM", "CLAUDE_HELPER_CONTEXT"]) expect(read).toContain(name);
});
