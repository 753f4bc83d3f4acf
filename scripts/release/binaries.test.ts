/** The binaries.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { addonSpecs, renderManifest } from "./binaries.ts";
import { TARGETS } from "./context.ts";

describe("binaries and manifest", () => {
  test("every target's keyring addon at the build's version; manifest keyed by os-arch and file", () => {
    expect(addonSpecs("2.1.2")).toContain("@napi-rs/keyring-win32-x64-msvc@2.1.2");
    expect(addonSpecs("2.1.2")).toHaveLength(TARGETS.length);
    const manifest = JSON.parse(renderManifest("9.8.7", new Map([[TARGETS[0]!, 10]]), new Map([["a.deb", 5]])));
    expect(manifest).toEqual({ version: "9.8.7", binaries: { "linux-amd64": 10 }, artifacts: { "a.deb": 5 } });
  });
});
