/**
 * The module graph of a source tree, for the architecture guards (no import circles, no command
 * importing another command). Every way a module names another counts: static imports, type-only
 * imports (`import type`, `import { type X }`, `export type … from`), re-exports, dynamic
 * `import()`, `typeof import()` in types, and `require()`. A regular-expression scan rather than a
 * parser: the TypeScript 7 package ships no JavaScript API, and Bun's transpiler drops type-only
 * imports; the fixture test in test/unit/import-cycles.test.ts pins every form.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const STATIC = /^[ \t]*(?:import|export)\b[^;'"`]*?\bfrom\s*["']([^"']+)["']/gm;
const BARE = /^[ \t]*import\s*["']([^"']+)["']/gm;
const CALL = /\b(?:import|require)\(\s*["']([^"']+)["']\s*\)/g;

/** Every module specifier the text names, in the forms above. */
export function specifiersIn(text: string): string[] {
  return [...text.matchAll(STATIC), ...text.matchAll(BARE), ...text.matchAll(CALL)].map((m) => m[1]!);
}

export function importsOf(file: string): string[] {
  return specifiersIn(readFileSync(file, "utf8"));
}

/** Every .ts file under `root` (tests included: they may not close a circle either). */
export function sourceFiles(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    if (statSync(path).isDirectory()) return name === "node_modules" ? [] : sourceFiles(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** file -> the files under the same tree it names (relative specifiers only). */
export function importGraph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = importsOf(file)
      .filter((s) => s.startsWith("."))
      .map((s) => resolve(dirname(file), s))
      .filter((t) => known.has(t));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/**
 * The circles of the graph: one per strongly connected component of more than one module (or a
 * module that imports itself), each shown as one closed path through it, names relative to `root`.
 */
export function importCycles(graph: Map<string, string[]>, root: string): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return components.map((component) => closedPath(graph, component).map((f) => relative(root, f)));
}

/** A shortest path from the component's first module back to itself, inside the component. */
function closedPath(graph: Map<string, string[]>, component: string[]): string[] {
  const inside = new Set(component);
  const start = [...component].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}
