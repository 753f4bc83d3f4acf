/** The deb.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { debName, renderDebControl, renderDebCopyright, renderDebFiles, SYSTEM_CONFIG_EXAMPLE } from "./deb.ts";
import { parseSystemConfig } from "../../src/cli/surfaces/tenant-source.ts";
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
    const files = renderDebFiles(META, LICENSE, "{}\n");
    expect(gunzipSync(files["usr/share/man/man1/agent-runner-auth.1.gz"] as Uint8Array).toString()).toContain(".TH AGENT");
    expect(Object.keys(files)).toContain("usr/share/bash-completion/completions/agent-runner-auth");
    expect(Object.keys(files)).toContain("usr/share/zsh/vendor-completions/_agent-runner-auth");
    expect(debName("9.8.7", "amd64")).toBe("agent-runner-auth_9.8.7_amd64.deb");
    expect(files["usr/share/doc/agent-runner-auth/examples/config.json"]).toBe("{}\n");
  });
  test("the shipped system configuration example: empty as shipped, a valid configuration once its members are uncommented", () => {
    const example = readFileSync(join(import.meta.dir, "..", "..", SYSTEM_CONFIG_EXAMPLE), "utf8");
    expect(parseSystemConfig(example, "/etc/agent-runner-auth/config.json")).toBeNull();
    const filledIn = example.replace(/^(\s*)\/\/ (")/gm, "$1$2");
    expect(parseSystemConfig(filledIn, "/etc/agent-runner-auth/config.json")).toEqual({
      tenant: "https://acme.proxy.example.com",
      profile: "default",
      identityProvider: "AcmeEntraID",
      idpIdentifier: "acme.example.com",
      loginHint: "jdoe@acme.example.com",
    });
  });
});
