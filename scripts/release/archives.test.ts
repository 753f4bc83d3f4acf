/** The archives.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { renderArchiveExtras, renderSha256Sums, tarArgs } from "./archives.ts";
import { META } from "./test-fixtures.ts";

describe("archives", () => {
  test("extras: the man page dated from the source date, four completions", () => {
    const extras = renderArchiveExtras(META);
    expect(Object.keys(extras).sort()).toEqual(["agent-runner-auth.1", "completions/_agent-runner-auth", "completions/agent-runner-auth.bash", "completions/agent-runner-auth.fish", "completions/agent-runner-auth.ps1"]);
    expect(extras["agent-runner-auth.1"]).toContain('"2026-01-01"');
  });
  test("tar is reproducible: sorted, root-owned, source-date mtime", () => {
    expect(tarArgs("/o/a.tar.gz", "/s", "42")).toEqual(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@42", "-czf", "/o/a.tar.gz", "-C", "/s", "."]);
  });
  test("SHA256SUMS is what sha256sum -c reads", () => {
    expect(renderSha256Sums(new Map([["a.tar.gz", "ab"], ["b.deb", "cd"]]))).toBe("ab  a.tar.gz\ncd  b.deb\n");
  });
});
