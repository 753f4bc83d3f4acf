import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openState, shownStateUrl } from "./open.ts";

test("a state URL is shown without its credentials, even a password holding an unencoded @", () => {
  expect(shownStateUrl("redis://:s3cret@redis:6379/0")).toBe("redis://***@redis:6379/0");
  expect(shownStateUrl("rediss://user:p@ss@redis.internal:6380/1")).toBe("rediss://***@redis.internal:6380/1");
  expect(shownStateUrl("redis://redis:6379/0")).toBe("redis://redis:6379/0");
  expect(shownStateUrl("sqlite:/var/lib/agent-runner/state.db")).toBe("sqlite:/var/lib/agent-runner/state.db");
});

test("an opened store names its spool directory (one subdirectory per store under --spool-dir); in memory, none", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-open-"));
  try {
    const file = openState(`sqlite:${join(dir, "state.db")}`, { spool: { dir: join(dir, "spool") } });
    expect(file.spoolDir).toMatch(new RegExp(`^${join(dir, "spool")}/sqlite-[0-9a-f]{12}$`));
    await file.close();
    const memory = openState("sqlite::memory:", { spool: { dir: join(dir, "spool") } });
    expect(memory.spoolDir).toBeUndefined();
    await memory.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
