/**
 * No import circles in the gateway and what it shares (src/proxy, src/shared), type-only ones
 * included (issue 17): the request path's layers (http over use cases over model and state) must
 * each be readable and testable on their own. The walker (test/support/import-graph.ts) reads
 * every form a module can name another in.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { importCycles, importGraph, sourceFiles } from "../../support/import-graph.ts";

const SRC = join(import.meta.dir, "..", "..", "..", "src");

test("no module in src/proxy or src/shared is part of an import circle", () => {
  const files = [...sourceFiles(join(SRC, "proxy")), ...sourceFiles(join(SRC, "shared"))];
  expect(files.length).toBeGreaterThan(80);
  expect(importCycles(importGraph(files), SRC).map((cycle) => cycle.join(" -> "))).toEqual([]);
});

test("the domain (src/proxy/model) imports nothing outside itself", () => {
  const model = sourceFiles(join(SRC, "proxy", "model"));
  expect(model.length).toBeGreaterThan(5);
  const outside = [...importGraph(sourceFiles(SRC)).entries()].filter(([file]) => model.includes(file)).flatMap(([file, targets]) => targets.filter((t) => !model.includes(t)).map((t) => `${file} -> ${t}`));
  expect(outside).toEqual([]);
});
