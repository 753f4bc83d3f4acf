/** The apt-repo.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { releaseFileOptions } from "./apt-repo.ts";

describe("apt repository", () => {
  test("Release fields for the stable suite, both architectures, the version", () => {
    const options = releaseFileOptions("9.8.7");
    expect(options.filter((o) => o !== "-o")).toEqual([
      "APT::FTPArchive::Release::Origin=agent-runner",
      "APT::FTPArchive::Release::Label=agent-runner",
      "APT::FTPArchive::Release::Suite=stable",
      "APT::FTPArchive::Release::Codename=stable",
      "APT::FTPArchive::Release::Architectures=amd64 arm64",
      "APT::FTPArchive::Release::Components=main",
      "APT::FTPArchive::Release::Description=agent-runner-auth 9.8.7",
    ]);
    expect(options.filter((o) => o === "-o")).toHaveLength(7);
  });
});
