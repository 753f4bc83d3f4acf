/** The console's bundle as the gateway serves it: small, self-contained, nothing a strict CSP refuses. */
import { expect, test } from "bun:test";
import { assetSizes, buildConsoleAssets } from "./assets.ts";

test("a few hashed files under 300 KB compressed; index.html loads only them, with no inline script or style", async () => {
  const assets = await buildConsoleAssets();
  const sizes = assetSizes(assets);
  const gzip = sizes.reduce((n, s) => n + s.gzip, 0);
  expect(gzip).toBeLessThan(300 * 1024);
  expect(sizes.length).toBeLessThanOrEqual(6);
  for (const name of assets.files.keys()) expect(name).toMatch(/-[a-z0-9]{8,}\.(js|css|svg)$/);
  const html = new TextDecoder().decode(assets.index.body);
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // every script has a src
  expect(html).not.toMatch(/\sstyle=/);
  expect(html).not.toMatch(/<style/);
  for (const ref of html.matchAll(/(?:src|href)="([^"]+)"/g)) expect(assets.files.has((ref[1] as string).replace(/^assets\//, ""))).toBe(true);
  // nothing fetched from elsewhere: no absolute URL in the script or the stylesheet but the SVG namespace
  for (const a of assets.files.values()) {
    const text = new TextDecoder().decode(a.body);
    const urls = [...text.matchAll(/https?:\/\/[^\s"'`)]+/g)].map((m) => m[0]).filter((u) => !u.startsWith("http://www.w3.org/"));
    expect(urls).toEqual([]);
  }
}, 30_000);
