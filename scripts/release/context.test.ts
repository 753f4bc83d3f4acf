/** The context.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { archiveName, binaryName, releaseDate, TARGETS } from "./context.ts";
import { META } from "./test-fixtures.ts";

describe("context", () => {
  test("archive and binary names per platform, the release date from the source date", () => {
    expect(TARGETS.map((t) => archiveName("1.2.3", t))).toEqual([
      "agent-runner-auth_1.2.3_linux_amd64.tar.gz",
      "agent-runner-auth_1.2.3_linux_arm64.tar.gz",
      "agent-runner-auth_1.2.3_darwin_arm64.tar.gz",
      "agent-runner-auth_1.2.3_darwin_amd64.tar.gz",
      "agent-runner-auth_1.2.3_windows_amd64.zip",
    ]);
    expect(TARGETS.map(binaryName).filter((n) => n.endsWith(".exe"))).toEqual(["agent-runner-auth.exe"]);
    expect(releaseDate(META)).toBe("2026-01-01");
  });
});
