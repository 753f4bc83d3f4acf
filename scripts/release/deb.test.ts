/** The deb.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { debName, renderDebControl, renderDebCopyright, renderDebFiles } from "./deb.ts";
import { LICENSE, META } from "./test-fixtures.ts";

describe("deb", () => {
  test("control: version, architecture, installed size, glibc-only dependency, folded description", () => {
    const control = renderDebControl(META, "arm64", 1234);
    expect(control).toContain("Version: 9.8.7\nArchitecture: arm64\n");
    expect(control).toContain("Installed-Size: 1234\n");
    expect(control).toContain("Depends: libc6 (>= 2.17)\n");
    expect(control).toContain("Description: Test description\n agent-runner-auth signs in");
    expect(control.endsWith("\n")).toBe(true);
    // Every continuation line of a deb822 field starts with a space.
    for (const line of control.trimEnd().split("\n")) expect(line).toMatch(/^( |[A-Z][\w-]*: )/);
  });
  test("copyright: machine-readable, the license text indented with '.' for blank lines", () => {
    const copyright = renderDebCopyright(LICENSE);
    expect(copyright).toStartWith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n");
    expect(copyright).toContain("License: MIT\n Copyright (c) 2026 copebit AG\n .\n Permission is hereby granted\n");
  });
  test("files: gzipped man page, completions where Debian's shells look", () => {
    const files = renderDebFiles(META, LICENSE);
    expect(gunzipSync(files["usr/share/man/man1/agent-runner-auth.1.gz"] as Uint8Array).toString()).toContain(".TH AGENT");
    expect(Object.keys(files)).toContain("usr/share/bash-completion/completions/agent-runner-auth");
    expect(Object.keys(files)).toContain("usr/share/zsh/vendor-completions/_agent-runner-auth");
    expect(debName("9.8.7", "amd64")).toBe("agent-runner-auth_9.8.7_amd64.deb");
  });
});
