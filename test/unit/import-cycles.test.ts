/**
 * No import circles anywhere in src/, type-only ones included (issue 17): a circle means two
 * layers that cannot be read, tested or split apart on their own. The walker reads every form a
 * module can name another in; the fixtures below pin each one, and a planted circle is found.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importCycles, importGraph, sourceFiles, specifiersIn } from "../support/import-graph.ts";

const SRC = join(import.meta.dir, "..", "..", "src");

test("no module in src/ is part of an import circle", () => {
  const files = sourceFiles(SRC);
  expect(files.length).toBeGreaterThan(150);
  expect(importCycles(importGraph(files), SRC).map((cycle) => cycle.join(" -> "))).toEqual([]);
});

test("the walker reads static, type-only, re-exported, dynamic, typeof-import and require forms", () => {
  const text = [
    'import { a } from "./a.ts";',
    'import type { B } from "./b.ts";',
    'import { type C, type D } from "./c.ts";',
    "import {\n  e,\n  type F,\n} from './e.ts';",
    'export type { G } from "./g.ts";',
    'export * from "./h.ts";',
    'import "./side-effect.ts";',
    'const i = await import("./i.ts");',
    'const j = require("./j.ts") as typeof import("./k.ts");',
    'const s = "from \\"./not-an-import.ts\\"";',
  ].join("\n");
  expect(specifiersIn(text).sort()).toEqual(["./a.ts", "./b.ts", "./c.ts", "./e.ts", "./g.ts", "./h.ts", "./i.ts", "./j.ts", "./k.ts", "./side-effect.ts"]);
});

test("a planted circle through a type-only import is found, and shown as a closed path", () => {
  const root = mkdtempSync(join(tmpdir(), "ara-cycles-"));
  mkdirSync(join(root, "commands"));
  writeFileSync(join(root, "commands", "doctor.ts"), 'import { checks } from "./checks.ts";\nexport interface Check { name: string }\n');
  writeFileSync(join(root, "commands", "checks.ts"), 'import type { Check } from "./doctor.ts";\nexport const checks: Check[] = [];\n');
  writeFileSync(join(root, "leaf.ts"), 'import { checks } from "./commands/checks.ts";\n');
  const cycles = importCycles(importGraph(sourceFiles(root)), root);
  expect(cycles).toEqual([["commands/checks.ts", "commands/doctor.ts", "commands/checks.ts"]]);
});
