/** Sealed session records on each store a gateway may share: memory, SQLite (a real file), Redis (a real server). */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useTestRedis } from "../../../test/support/redis-server.ts";
import { MemorySealedStore, RedisSealedStore, randomToken, type SealedStore, SealedRecords, SqliteSealedStore } from "./session.ts";

const redis = useTestRedis();
const dir = mkdtempSync(join(tmpdir(), "ara-console-sessions-"));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

const stores: { name: string; open(): SealedStore }[] = [
  { name: "memory", open: () => new MemorySealedStore() },
  { name: "sqlite", open: () => new SqliteSealedStore(join(dir, "state.db")) },
  { name: "redis", open: () => new RedisSealedStore(redis.url) },
];

for (const s of stores) {
  describe(`sealed records: ${s.name}`, () => {
    test("round trip under the id; another id reads nothing; deleted is gone", async () => {
      const store = s.open();
      const records = new SealedRecords<{ accessToken: string }>(store, "session");
      const id = randomToken();
      await records.put(id, { accessToken: "secret-access-token" }, 60_000);
      expect(await records.get(id)).toEqual({ accessToken: "secret-access-token" });
      expect(await records.get(randomToken())).toBeNull();
      await records.delete(id);
      expect(await records.get(id)).toBeNull();
      await store.close();
    });
    test("a record copied under another id's key does not open (the key is derived from the id)", async () => {
      const store = s.open();
      const records = new SealedRecords<{ v: number }>(store, "session");
      const [a, b] = [randomToken(), randomToken()];
      await records.put(a, { v: 1 }, 60_000);
      await records.put(b, { v: 2 }, 60_000);
      const keyOf = (id: string) => (records as unknown as { storeKey(id: string): string }).storeKey(id);
      await store.set(keyOf(b), (await store.get(keyOf(a))) as string, 60_000);
      expect(await records.get(b)).toBeNull();
      await store.close();
    });
    test("expires", async () => {
      const store = s.open();
      const records = new SealedRecords<{ v: number }>(store, "session");
      const id = randomToken();
      await records.put(id, { v: 1 }, 50);
      await Bun.sleep(120);
      expect(await records.get(id)).toBeNull();
      await store.close();
    });
  });
}

test("sqlite: the file holds no token and no session id", async () => {
  const file = join(dir, "plain.db");
  const store = new SqliteSealedStore(file);
  const id = randomToken();
  await new SealedRecords<{ accessToken: string }>(store, "session").put(id, { accessToken: "eyJ-secret-access-token" }, 60_000);
  await store.close();
  const bytes = readFileSync(file).toString("latin1") + (() => {
    try {
      return readFileSync(`${file}-wal`).toString("latin1");
    } catch {
      return "";
    }
  })();
  expect(bytes).not.toContain("eyJ-secret-access-token");
  expect(bytes).not.toContain(id);
});
