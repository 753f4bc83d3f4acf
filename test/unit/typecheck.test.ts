/** The whole project type-checks under `strict` (tsc --noEmit). */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

test("tsc --noEmit passes", () => {
  const root = join(import.meta.dir, "..", "..");
  const result = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", root], { encoding: "utf8" });
  expect(result.stdout + result.stderr).toBe("");
  expect(result.status).toBe(0);
}, 120_000);
