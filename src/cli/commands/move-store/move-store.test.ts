import { expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand } from "../registry.ts";
import { exitCodeOf } from "../../errors.ts";
import { accessRecord, fakeContext, NOW, refreshRecord } from "../../../../test/support/fake-context.ts";
import { parseOptions, run } from "./move-store.ts";

const options = (argv: string[]) => parseOptions(parseArgs(argv, findCommand("move-store")!.options, "move-store"), {});

test("moves every entry, switches the profile, then deletes the old copy", async () => {
  const fake = fakeContext();
  fake.stores.file.values.set("access", accessRecord("a", NOW + 60_000));
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  fake.stores.file.values.set("id", "id-token");
  expect(await run(fake.ctx, options(["pass"]))).toBe(0);
  expect([...fake.stores.pass.values.keys()].sort()).toEqual(["access", "id", "refresh"]);
  expect(fake.stores.file.values.size).toBe(0);
  expect(fake.profiles.get("default")!.store).toBe("pass");
});

test("a store that reads back something else: exit 4, the old copy and the profile untouched", async () => {
  const fake = fakeContext();
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  const pass = fake.stores.pass;
  pass.get = async (name) => (name === "probe" ? (pass.values.get(name) ?? null) : "garbled");
  expect(exitCodeOf(await run(fake.ctx, options(["pass"])).catch((e: unknown) => e))).toBe(4);
  expect(fake.stores.file.values.has("refresh")).toBe(true);
  expect(fake.profiles.get("default")!.store).toBe("file");
});

test("usage: exactly one known store", () => {
  expect(() => options([])).toThrow("move-store takes one argument");
  expect(() => options(["vault"])).toThrow('unknown store "vault"');
});
