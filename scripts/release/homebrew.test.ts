/** The homebrew.ts renderers, from made-up metadata (test-fixtures.ts). */
import { describe, expect, test } from "bun:test";
import { archiveName, TARGETS } from "./context.ts";
import { renderHomebrewFormula } from "./homebrew.ts";
import { META, sums } from "./test-fixtures.ts";

describe("homebrew", () => {
  test("the formula names each macOS/Linux archive with its checksum, and no Windows one", () => {
    const formula = renderHomebrewFormula(META, sums);
    for (const t of TARGETS.filter((t) => t.os !== "windows")) {
      const name = archiveName(META.version, t);
      expect(formula).toContain(`url "https://github.com/copebit/agent-runner-auth/releases/download/v9.8.7/${name}"\n      sha256 "${sums.get(name)}"`);
    }
    expect(formula).not.toContain("windows");
    expect(formula).toContain('version "9.8.7"');
    expect(formula).toContain('desc "Test description"');
    // Every block (class, def, do) is closed.
    expect(formula.match(/^\s*(class|def)\b|\bdo$/gm)?.length).toBe(formula.match(/^\s*end$/gm)?.length);
  });
  test("a missing checksum is an error, not an empty sha256", () => {
    expect(() => renderHomebrewFormula(META, new Map())).toThrow(/no checksum/);
  });
});
