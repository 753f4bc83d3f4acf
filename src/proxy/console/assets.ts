/**
 * The console's static files, bundled by Bun.build from ui/ (Preact, uPlot and its stylesheet,
 * the console's own CSS): a few files with content-hashed names (cached for a year, immutable)
 * and index.html naming them (revalidated). Each file is kept raw, gzip'd and brotli'd, served
 * by the gateway with nothing from a CDN. `buildConsoleAssets` runs at the gateway's start-up
 * (from source) or at build time (`writeConsoleAssets` into a directory the binary loads).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

export interface Asset {
  name: string;
  type: string;
  body: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer>;
  br: Uint8Array<ArrayBuffer>;
  etag: string;
}

export interface ConsoleAssets {
  index: Asset;
  /** By file name, as index.html and the CSS name them under `assets/`. */
  files: Map<string, Asset>;
}

export class ConsoleBuildError extends Error {
  readonly code = "console_build";
}

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  html: "text/html; charset=utf-8",
  woff2: "font/woff2",
  png: "image/png",
};

const typeOf = (name: string) => TYPES[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream";

export function asset(name: string, content: Uint8Array): Asset {
  const body = new Uint8Array(content);
  return {
    name,
    type: typeOf(name),
    body,
    gzip: new Uint8Array(gzipSync(body, { level: 9 })),
    br: new Uint8Array(brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength } })),
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1a56b8"/><path d="M8 22l5-8 4 5 3-4 4 7z" fill="#fff"/></svg>`;

function hashedName(base: string, ext: string, body: Uint8Array): string {
  return `${base}-${createHash("sha256").update(body).digest("hex").slice(0, 12)}.${ext}`;
}

export function indexHtml(script: string, styles: string[], icon: string): string {
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    '<meta name="referrer" content="no-referrer">',
    "<title>Agent runner console</title>",
    `<link rel="icon" href="assets/${icon}" type="image/svg+xml">`,
    ...styles.map((s) => `<link rel="stylesheet" href="assets/${s}">`),
    `<script type="module" src="assets/${script}"></script>`,
    "</head>",
    "<body>",
    '<div id="app"></div>',
    "<noscript><p>The console needs JavaScript.</p></noscript>",
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** Bundles ui/main.tsx (minified, for browsers) into hashed files and index.html. */
export async function buildConsoleAssets(): Promise<ConsoleAssets> {
  const result = await Bun.build({
    entrypoints: [join(import.meta.dir, "ui", "main.tsx")],
    target: "browser",
    format: "esm",
    minify: true,
    sourcemap: "none",
    splitting: false,
    naming: { entry: "console-[hash].[ext]", chunk: "chunk-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": '"production"' },
    throw: false,
  });
  if (!result.success) throw new ConsoleBuildError(`the console did not build: ${result.logs.map((l) => l.message).join("; ")}`);
  const files = new Map<string, Asset>();
  let script = "";
  const styles: string[] = [];
  for (const out of result.outputs) {
    const name = out.path.slice(out.path.lastIndexOf("/") + 1);
    files.set(name, asset(name, new Uint8Array(await out.arrayBuffer())));
    if (out.kind === "entry-point" && name.endsWith(".js")) script = name;
    else if (name.endsWith(".css")) styles.push(name);
  }
  if (!script) throw new ConsoleBuildError("the console build produced no script");
  const iconBody = new TextEncoder().encode(FAVICON);
  const icon = hashedName("icon", "svg", iconBody);
  files.set(icon, asset(icon, iconBody));
  return { index: asset("index.html", new TextEncoder().encode(indexHtml(script, styles, icon))), files };
}

/** Writes the built files (for a binary that cannot bundle at start-up). */
export function writeConsoleAssets(assets: ConsoleAssets, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "index.html"), assets.index.body);
  for (const a of assets.files.values()) writeFileSync(join(dir, a.name), a.body);
}

/** Reads files written by writeConsoleAssets. */
export function loadConsoleAssets(dir: string): ConsoleAssets {
  const files = new Map<string, Asset>();
  for (const name of readdirSync(dir)) if (name !== "index.html") files.set(name, asset(name, readFileSync(join(dir, name))));
  return { index: asset("index.html", readFileSync(join(dir, "index.html"))), files };
}

/**
 * Where a `--workers` supervisor left the bundle it built (writeConsoleAssets), so its workers
 * load it instead of each bundling it again (1 s of CPU each at start-up).
 */
export const CONSOLE_ASSETS_DIR_ENV = "AGENT_RUNNER_PROXY_CONSOLE_ASSETS";

/** The bundle for this process: the supervisor's when it left one, else built now. */
export async function consoleAssetsFor(env: NodeJS.ProcessEnv): Promise<ConsoleAssets> {
  const dir = env[CONSOLE_ASSETS_DIR_ENV];
  if (!dir) return buildConsoleAssets();
  try {
    return loadConsoleAssets(dir);
  } catch (e) {
    throw new ConsoleBuildError(`cannot read the console's files in ${dir} (${CONSOLE_ASSETS_DIR_ENV}): ${(e as Error).message}`);
  }
}

/** Sizes for docs and the budget check: raw, gzip and brotli bytes of every file. */
export function assetSizes(assets: ConsoleAssets): { name: string; raw: number; gzip: number; br: number }[] {
  return [assets.index, ...assets.files.values()].map((a) => ({ name: a.name, raw: a.body.byteLength, gzip: a.gzip.byteLength, br: a.br.byteLength }));
}
