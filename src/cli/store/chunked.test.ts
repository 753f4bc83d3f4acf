/** Splitting values over a keychain's item limit (Windows: 2,560 bytes), with the limit injected. */
import { describe, expect, test } from "bun:test";
import { deleteChunked, readChunked, writeChunked, type RawSecrets } from "./chunked.ts";

class FakeRaw implements RawSecrets {
  items = new Map<string, Uint8Array>();
  writesLeft = Infinity;
  constructor(readonly limit: number) {}
  async get(account: string) {
    return this.items.get(account) ?? null;
  }
  async set(account: string, bytes: Uint8Array) {
    if (bytes.length > this.limit) throw new Error(`item too large: ${bytes.length} > ${this.limit}`);
    if (this.writesLeft-- <= 0) throw new Error("crash");
    this.items.set(account, Uint8Array.from(bytes));
  }
  async delete(account: string) {
    return this.items.delete(account);
  }
}

const refreshToken = JSON.stringify({ token: "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ." + "x".repeat(1700), issuedAt: 1 });

describe("chunked keychain values", () => {
  test("small values are stored as they are; large ones split and join back exactly", async () => {
    const raw = new FakeRaw(2560);
    await writeChunked(raw, "p:access", "short", 2560);
    expect(raw.items.size).toBe(1);
    expect(await readChunked(raw, "p:access")).toBe("short");
    const big = "é".repeat(3000) + refreshToken; // multi-byte UTF-8 split across chunk borders
    await writeChunked(raw, "p:refresh", big, 2560);
    expect(await readChunked(raw, "p:refresh")).toBe(big);
    expect([...raw.items.keys()].filter((k) => k.startsWith("p:refresh#")).length).toBe(Math.ceil(new TextEncoder().encode(big).length / 2560));
  });

  test("rewriting removes the previous generation; delete removes everything", async () => {
    const raw = new FakeRaw(100);
    await writeChunked(raw, "a", "1".repeat(450), 100);
    await writeChunked(raw, "a", "2".repeat(250), 100);
    expect(await readChunked(raw, "a")).toBe("2".repeat(250));
    expect(raw.items.size).toBe(1 + 3);
    await writeChunked(raw, "a", "small", 100);
    expect(raw.items.size).toBe(1);
    await writeChunked(raw, "a", "3".repeat(300), 100);
    expect(await deleteChunked(raw, "a")).toBe(true);
    expect(raw.items.size).toBe(0);
    expect(await deleteChunked(raw, "a")).toBe(false);
  });

  test("a crash at any write leaves the old value or the new one, never neither", async () => {
    for (let crashAfter = 0; crashAfter < 8; crashAfter++) {
      const raw = new FakeRaw(100);
      await writeChunked(raw, "r", "old".repeat(100), 100);
      raw.writesLeft = crashAfter;
      await writeChunked(raw, "r", "new".repeat(120), 100).catch(() => undefined);
      expect(["old".repeat(100), "new".repeat(120)]).toContain((await readChunked(raw, "r")) as string);
    }
  });

  test("a value that looks like a manifest is still stored safely", async () => {
    const raw = new FakeRaw(1000);
    const tricky = "agent-runner-auth:chunked:v1:abc:2";
    await writeChunked(raw, "t", tricky, 1000);
    expect(await readChunked(raw, "t")).toBe(tricky);
  });
});
