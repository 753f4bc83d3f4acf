/**
 * The console's server-side records: a browser holds only an opaque random id in an HttpOnly
 * cookie; the tokens stay on the gateway. Records live in a store every worker and replica shares
 * (SQLite or Redis, as the gateway's state), sealed: the store key is a hash of the id and the
 * record is encrypted (AES-256-GCM) under a key derived from the id (HKDF-SHA256), so whoever
 * reads the store (a backup, a Redis dump) learns no token and cannot forge a session.
 */
import { Database } from "bun:sqlite";
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { BoundedRedis } from "../state/bounded-redis.ts";
import { ROLLUP_REDIS_ERRORS } from "../rollup/types.ts";

/** A random id or token: 32 bytes, base64url (43 characters). */
export const randomToken = () => randomBytes(32).toString("base64url");
const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;
export const isTokenShaped = (v: string | undefined): v is string => v !== undefined && ID_SHAPE.test(v);

export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Key-value storage with expiry, shared by the gateway's processes. */
export interface SealedStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Records of one kind (sessions, pending sign-ins), sealed under their own id. */
export class SealedRecords<T> {
  constructor(
    private readonly store: SealedStore,
    private readonly kind: string,
  ) {}

  private storeKey(id: string): string {
    return `${this.kind}:${createHash("sha256").update(`${this.kind}\0${id}`).digest("base64url")}`;
  }

  private key(id: string): Buffer {
    return Buffer.from(hkdfSync("sha256", id, "", `agent-runner console ${this.kind}`, 32));
  }

  async put(id: string, record: T, ttlMs: number): Promise<void> {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key(id), iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(record), "utf8"), cipher.final()]);
    await this.store.set(this.storeKey(id), Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url"), ttlMs);
  }

  /** The record, or null when absent, expired, or not sealed under this id. */
  async get(id: string): Promise<T | null> {
    const sealed = await this.store.get(this.storeKey(id));
    if (sealed === null) return null;
    try {
      const raw = Buffer.from(sealed, "base64url");
      const decipher = createDecipheriv("aes-256-gcm", this.key(id), raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8")) as T;
    } catch {
      return null;
    }
  }

  delete(id: string): Promise<void> {
    return this.store.delete(this.storeKey(id));
  }
}

/** One process (tests, a single-worker gateway). */
export class MemorySealedStore implements SealedStore {
  private readonly entries = new Map<string, { value: string; expires: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  async get(key: string): Promise<string | null> {
    const e = this.entries.get(key);
    if (!e) return null;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return e.value;
  }
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (this.entries.size > 100_000) for (const [k, e] of this.entries) if (e.expires <= this.now()) this.entries.delete(k);
    this.entries.set(key, { value, expires: this.now() + ttlMs });
  }
  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }
  async close(): Promise<void> {}
}

/** A table of the SQLite state file: every worker of one host. */
export class SqliteSealedStore implements SealedStore {
  private readonly db: Database;
  constructor(
    path: string,
    private readonly now: () => number = Date.now,
  ) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { create: true, strict: true });
    this.db.exec("PRAGMA busy_timeout = 10000");
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec("CREATE TABLE IF NOT EXISTS console_sessions (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID");
  }
  async get(key: string): Promise<string | null> {
    return this.db.query<{ value: string }, [string, number]>("SELECT value FROM console_sessions WHERE key = ? AND expires > ?").get(key, this.now())?.value ?? null;
  }
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const now = this.now();
    this.db.transaction(() => {
      this.db.query("INSERT OR REPLACE INTO console_sessions (key, value, expires) VALUES (?, ?, ?)").run(key, value, now + ttlMs);
      this.db.query("DELETE FROM console_sessions WHERE expires <= ?").run(now);
    }).immediate();
  }
  async delete(key: string): Promise<void> {
    this.db.query("DELETE FROM console_sessions WHERE key = ?").run(key);
  }
  async close(): Promise<void> {
    this.db.close();
  }
}

/** Keys with a TTL beside the gateway's state: every replica. */
export class RedisSealedStore implements SealedStore {
  private readonly redis: BoundedRedis;
  constructor(
    url: string,
    private readonly prefix = "ara:console",
  ) {
    this.redis = new BoundedRedis(url, 2000, ROLLUP_REDIS_ERRORS);
  }
  async get(key: string): Promise<string | null> {
    const v = await this.redis.send("GET", [`${this.prefix}:${key}`]);
    return v === null ? null : String(v);
  }
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.send("SET", [`${this.prefix}:${key}`, value, "PX", String(Math.max(1, Math.round(ttlMs)))]);
  }
  async delete(key: string): Promise<void> {
    await this.redis.send("DEL", [`${this.prefix}:${key}`]);
  }
  async close(): Promise<void> {
    this.redis.close();
  }
}
