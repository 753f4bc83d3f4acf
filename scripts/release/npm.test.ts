/** The npm.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { TARGETS } from "./context.ts";
import { renderMainPackageJson, renderPlatformPackageJson } from "./npm.ts";
import { META } from "./test-fixtures.ts";

describe("npm", () => {
  test("one platform package per target with its os/cpu; the main package depends on all of them optionally", () => {
    const linux = JSON.parse(renderPlatformPackageJson(META, TARGETS[0]!));
    expect(linux).toMatchObject({ name: "@agent-runner-auth/linux-x64", version: "9.8.7", os: ["linux"], cpu: ["x64"], files: ["bin", "LICENSE"] });
    const main = JSON.parse(renderMainPackageJson(META));
    expect(main.bin).toEqual({ "agent-runner-auth": "bin/agent-runner-auth" });
    expect(main.optionalDependencies).toEqual(Object.fromEntries(TARGETS.map((t) => [`@agent-runner-auth/${t.npmName}`, "9.8.7"])));
    expect(main.scripts).toBeUndefined(); // no postinstall
  });
});
