/**
 * Guards of the command layer: no command imports another command (shared behaviour lives in the
 * use-case layer), nothing below the commands imports them, every command folder has its unit
 * test, and docs/cli.md's exit-code table lists exactly the codes of the one table in errors.ts.
 * (No import circles anywhere in src/: test/unit/import-cycles.test.ts.)
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { importsOf, sourceFiles } from "../../../test/support/import-graph.ts";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { EXIT_CODES } from "../errors.ts";

const COMMANDS_DIR = import.meta.dir;
const commandFolders = readdirSync(COMMANDS_DIR).filter((name) => statSync(join(COMMANDS_DIR, name)).isDirectory());

test("no module under src/cli/commands/<name>/ imports another command's folder", () => {
  expect(commandFolders.length).toBeGreaterThanOrEqual(8);
  const offences: string[] = [];
  for (const folder of commandFolders) {
    for (const file of readdirSync(join(COMMANDS_DIR, folder)).filter((f) => /\.tsx?$/.test(f) && !f.endsWith(".test.ts"))) {
      const path = join(COMMANDS_DIR, folder, file);
      for (const specifier of importsOf(path)) {
        if (!specifier.startsWith(".")) continue;
        const target = relative(COMMANDS_DIR, resolve(dirname(path), specifier));
        const targetFolder = target.split(/[\\/]/)[0]!;
        if (!target.startsWith("..") && targetFolder !== folder && commandFolders.includes(targetFolder)) offences.push(`${folder}/${file} imports ${specifier}`);
      }
    }
  }
  expect(offences).toEqual([]);
});

test("the guard sees static, dynamic and type-only imports", () => {
  const fixture = join(mkdtempSync(join(tmpdir(), "ara-guard-")), "fixture.ts");
  writeFileSync(fixture, 'import { a } from "../login/login.ts";\nimport type { B } from "../token/token.ts";\nconst c = await import("../status/status.ts");\n');
  expect(importsOf(fixture).sort()).toEqual(["../login/login.ts", "../status/status.ts", "../token/token.ts"]);
});

test("nothing below the command layer imports it: CommandContext and its ports live beside the factory", () => {
  const cli = join(COMMANDS_DIR, "..");
  const offences: string[] = [];
  for (const path of sourceFiles(cli)) {
    if (path.startsWith(COMMANDS_DIR) || path.endsWith(".test.ts") || path === join(cli, "main.ts")) continue;
    for (const specifier of importsOf(path)) {
      if (specifier.startsWith(".") && resolve(dirname(path), specifier).startsWith(COMMANDS_DIR + "/")) offences.push(`${relative(cli, path)} imports ${specifier}`);
    }
  }
  expect(offences).toEqual([]);
});

test("each command has its own folder with a unit test beside it", () => {
  for (const folder of commandFolders) {
    const files = readdirSync(join(COMMANDS_DIR, folder));
    expect(files).toContain(`${folder}.ts`);
    expect(files).toContain(`${folder}.test.ts`);
  }
});

test("docs/cli.md's exit-code table lists exactly the codes of errors.ts's table", () => {
  const doc = readFileSync(join(import.meta.dir, "..", "..", "..", "docs", "cli.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Exit codes"));
  const table = section.slice(0, section.indexOf("\n## ") === -1 ? undefined : section.indexOf("\n## "));
  const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
  expect(documented).toEqual(EXIT_CODES.map(([code]) => code));
  expect(documented).toContain(70);
});
