import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileKeySource, fingerprint, keyInText, openKeySource } from "./key-source.ts";
import { UpstreamError } from "./types.ts";

type Line = { level: string; message: string; fields?: Record<string, unknown> };
const logger = () => {
  const lines: Line[] = [];
  return { lines, log: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) }) };
};
const dirs: string[] = [];
const sources: FileKeySource[] = [];
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ara-keys-"));
  dirs.push(dir);
  return dir;
}
async function open(path: string, log: ReturnType<typeof logger>["log"], pollMs = 60_000): Promise<FileKeySource> {
  const source = await FileKeySource.open(path, { upstream: "anthropic-a", log, pollMs, debounceMs: 10 });
  sources.push(source);
  return source;
}
async function until(condition: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await Bun.sleep(5);
  }
}

test("a key in a file's text: trimmed, one token", () => {
  expect(keyInText("sk-ant-abc\n")).toBe("sk-ant-abc");
  expect(keyInText("  sk-ant-abc  \r\n")).toBe("sk-ant-abc");
  expect(keyInText("")).toBeUndefined();
  expect(keyInText("sk-ant-a\nsk-ant-b")).toBeUndefined();
  expect(keyInText("sk ant")).toBeUndefined();
  expect(fingerprint("sk-ant-abc")).toMatch(/^[0-9a-f]{8}$/);
});

describe("a watched key file", () => {
  test("a key written in place is used by the next request, and logged by fingerprint only", async () => {
    const dir = tempDir();
    const path = join(dir, "key");
    writeFileSync(path, "sk-ant-old\n");
    const { lines, log } = logger();
    const source = await open(path, log);
    expect(source.current()).toBe("sk-ant-old");
    writeFileSync(path, "sk-ant-new\n");
    await until(() => source.current() === "sk-ant-new");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "info", fields: { upstream: "anthropic-a", key_fingerprint: fingerprint("sk-ant-new") } });
    expect(JSON.stringify(lines)).not.toContain("sk-ant-new");
  });

  test("an atomic rename (write a temporary file, rename it over) is seen", async () => {
    const dir = tempDir();
    const path = join(dir, "key");
    writeFileSync(path, "sk-ant-old");
    const source = await open(path, logger().log);
    writeFileSync(join(dir, ".key.tmp"), "sk-ant-renamed");
    renameSync(join(dir, ".key.tmp"), path);
    await until(() => source.current() === "sk-ant-renamed");
  });

  test("a Kubernetes secret update (the ..data symlink swapped) is seen", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "v1"));
    writeFileSync(join(dir, "v1", "key"), "sk-ant-v1");
    symlinkSync("v1", join(dir, "..data"));
    symlinkSync(join("..data", "key"), join(dir, "key"));
    const source = await open(join(dir, "key"), logger().log);
    expect(source.current()).toBe("sk-ant-v1");
    mkdirSync(join(dir, "v2"));
    writeFileSync(join(dir, "v2", "key"), "sk-ant-v2");
    symlinkSync("v2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    await until(() => source.current() === "sk-ant-v2");
  });

  test("an empty, garbled or unreadable file keeps the last good key, reported once per spell", async () => {
    const dir = tempDir();
    const path = join(dir, "key");
    writeFileSync(path, "sk-ant-good");
    const { lines, log } = logger();
    const source = await open(path, log);
    writeFileSync(path, "");
    expect(await source.refresh()).toBe(false);
    expect(await source.refresh()).toBe(false);
    writeFileSync(path, "two\nlines");
    await source.refresh();
    expect(source.current()).toBe("sk-ant-good");
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(1);
    expect(lines[0]!.message).toContain(`the key file ${path} is empty; still using the last good key`);

    writeFileSync(path, "sk-ant-good");
    await source.refresh();
    expect(lines.at(-1)!.message).toContain("is good again");

    rmSync(path);
    await source.refresh();
    expect(source.current()).toBe("sk-ant-good");
    expect(lines.at(-1)).toMatchObject({ level: "warn" });
    expect(lines.at(-1)!.message).toContain("cannot be read (ENOENT");
    await source.refresh();
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(2);
  });

  test("re-read on demand (SIGHUP) without any change event; polled as a fallback", async () => {
    const dir = tempDir();
    const path = join(dir, "key");
    writeFileSync(path, "sk-ant-1");
    const files = { read: (p: string) => Bun.file(p).text(), watch: () => () => {} }; // a filesystem that reports nothing
    const onDemand = await FileKeySource.open(path, { upstream: "a", log: logger().log, files, pollMs: 60_000 });
    sources.push(onDemand);
    const polled = await FileKeySource.open(path, { upstream: "b", log: logger().log, files, pollMs: 20 });
    sources.push(polled);
    writeFileSync(path, "sk-ant-2");
    expect(onDemand.current()).toBe("sk-ant-1");
    expect(await onDemand.refresh()).toBe(true);
    expect(onDemand.current()).toBe("sk-ant-2");
    await until(() => polled.current() === "sk-ant-2");
  });

  test("concurrent refreshes share one read", async () => {
    let reads = 0;
    const files = { read: async () => (++reads, await Bun.sleep(10), "sk-ant-x"), watch: () => () => {} };
    const source = await FileKeySource.open("/k", { upstream: "a", log: logger().log, files });
    sources.push(source);
    reads = 0;
    await Promise.all([source.refresh(), source.refresh(), source.refresh()]);
    expect(reads).toBe(1);
  });

  test("at start, a missing or empty file fails with a message naming the upstream and the file", async () => {
    const dir = tempDir();
    const expectFailure = async (path: string, text: string) => {
      const error = await FileKeySource.open(path, { upstream: "anthropic-a", log: logger().log }).catch((e) => e);
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).code).toBe("key_source");
      expect((error as Error).message).toContain(text);
    };
    await expectFailure(join(dir, "missing"), `upstream anthropic-a: cannot read the key file ${join(dir, "missing")}`);
    writeFileSync(join(dir, "empty"), "\n");
    await expectFailure(join(dir, "empty"), "is empty or holds more than the key");
    if (process.getuid?.() !== 0) {
      writeFileSync(join(dir, "secret"), "sk-ant-x");
      chmodSync(join(dir, "secret"), 0o000);
      await expectFailure(join(dir, "secret"), "EACCES");
    }
  });
});

describe("other sources", () => {
  test("an environment variable is read once", async () => {
    const env: Record<string, string | undefined> = { KEY_B: "sk-ant-b\n" };
    const source = await openKeySource({ kind: "env", name: "KEY_B" }, { upstream: "b", log: logger().log, env });
    env.KEY_B = "sk-ant-changed";
    expect(await source.refresh()).toBe(false);
    expect(source.current()).toBe("sk-ant-b");
    const missing = await openKeySource({ kind: "env", name: "NOPE" }, { upstream: "b", log: logger().log, env }).catch((e) => e);
    expect((missing as Error).message).toBe("upstream b: the environment variable NOPE (its key) is not set");
  });
  test("the shorthand's key in the configuration itself", async () => {
    const source = await openKeySource({ kind: "inline", value: "sk-ant-i" }, { upstream: "anthropic", log: logger().log });
    expect(source.current()).toBe("sk-ant-i");
  });
});
