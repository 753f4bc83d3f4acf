/**
 * A local, durable spool of the state writes that could not reach the store (usage records,
 * releases and, under fail-open, revocations), replayed in order once the store answers again.
 *
 * Files: `<dir>/spool_<host>_<pid>_<startMs>~<seq>.jsonl`, one JSON write per line, appended by
 * one process only (group commit: the lines of one tick in one write + fdatasync, and the caller
 * is answered only after that). A process replays its own files; the files of a process that is
 * gone (same host and its pid dead, or its pid reused by us, or not touched for `staleMs`) are
 * claimed by renaming them to the claimer's name: rename is atomic, so of two processes trying,
 * one wins and the other gets ENOENT, and no file is replayed twice. The owner touches its files
 * every `staleMs / 4`, which keeps them its own. A replay that stops (store down again) resumes
 * where it stopped; one after a crash resumes from the file's start, which is safe because every
 * write is idempotent (records by request id, releases and revocations by their keys).
 * A last line without its newline is a write cut by a crash: skipped and reported, never fatal.
 */
import { mkdirSync, readdirSync, statSync, utimesSync, type Stats } from "node:fs";
import { open, readFile, rename, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Revocation, RevocationKind } from "../model/revocations.ts";
import type { UsageWrite } from "./types.ts";
import { pidAlive, spoolOwner, type SpoolIdentity, type SpoolOwner } from "../coordination/spool-owner.ts";

export type SpooledWrite =
  | UsageWrite
  | { kind: "revoke"; revocation: Revocation }
  | { kind: "restore"; tenant: string; revocationKind: RevocationKind; value: string };

const KINDS = new Set(["settle", "record", "release", "revoke", "restore"]);

export type SpoolErrorCode = "SPOOL_DIR" | "SPOOL_WRITE" | "SPOOL_FULL";

export class SpoolError extends Error {
  constructor(
    readonly code: SpoolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SpoolHooks {
  /** A line that is not a write: `torn` (the last one, cut by a crash) or `corrupt`; skipped. */
  skipped?(event: { file: string; line: number; reason: "torn" | "corrupt" }): void;
  /** Another process's file was taken over for replay. */
  claimed?(event: { file: string; from: string }): void;
}

export interface SpoolOptions {
  hooks?: SpoolHooks;
  /** A file of a live-looking owner not touched for this long is orphaned. Default 60 s. */
  staleMs?: number;
  /** Bytes of spooled writes kept at most; past it appends fail (SPOOL_FULL). Default 1 GiB. */
  maxBytes?: number;
  /** For tests: who this process is. */
  identity?: SpoolIdentity;
  /** For tests: whether a pid of this host is alive. */
  isAlive?: (pid: number) => boolean;
}

export interface ReplayResult {
  /** Writes applied by this call. */
  replayed: number;
  /** Set when `apply` threw: the rest stays spooled, in order. */
  error?: unknown;
}

const FILE = /^spool_(.+)_(\d+)_(\d+)~(\d{13}-\d{6})\.jsonl$/;

interface Segment {
  name: string;
  /** Lines of it already applied by this process (a replay that stopped resumes here). */
  done: number;
}

export class Spool {
  private readonly me: SpoolOwner;
  private readonly staleMs: number;
  private readonly maxBytes: number;
  private readonly isAlive: (pid: number) => boolean;
  private active: { name: string; handle: Promise<FileHandle> } | undefined;
  /** Closed segments of this process (own or claimed), not yet fully replayed. */
  private readonly sealed = new Map<string, Segment>();
  private buffer: string[] = [];
  private waiters: { resolve(): void; reject(e: unknown): void }[] = [];
  private writing: Promise<void> | undefined;
  private replaying: Promise<ReplayResult> | undefined;
  private seq = 0;
  private bytes = 0;
  private pending = 0;
  private readonly heartbeat: ReturnType<typeof setInterval>;

  private constructor(
    readonly dir: string,
    private readonly options: SpoolOptions,
  ) {
    this.me = spoolOwner(options.identity);
    this.staleMs = options.staleMs ?? 60_000;
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.isAlive = options.isAlive ?? pidAlive;
    this.heartbeat = setInterval(() => this.touch(), Math.max(250, this.staleMs / 4));
    this.heartbeat.unref?.();
  }

  /** Creates the directory (0700) if needed; throws SpoolError SPOOL_DIR if it cannot be used. */
  static open(dir: string, options: SpoolOptions = {}): Spool {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      readdirSync(dir);
    } catch (e) {
      throw new SpoolError("SPOOL_DIR", `cannot use the spool directory ${dir}: ${(e as Error).message}; give a writable --spool-dir`, { cause: e });
    }
    return new Spool(dir, options);
  }

  private get owner(): string {
    return this.me.name;
  }

  /** Writes spooled and not yet replayed by this process (orphans count once claimed). */
  get depth(): number {
    return this.pending;
  }

  /** True while something is spooled here or being written. */
  get holding(): boolean {
    return this.pending > 0 || this.buffer.length > 0 || this.writing !== undefined;
  }

  /** Appends one write; resolves once it is on disk (fdatasync). */
  append(write: SpooledWrite): Promise<void> {
    const line = `${JSON.stringify({ at: Date.now(), w: write })}\n`;
    if (this.bytes + line.length > this.maxBytes) return Promise.reject(new SpoolError("SPOOL_FULL", `the spool in ${this.dir} holds ${this.bytes} bytes, its limit; the write was not kept`));
    this.bytes += line.length;
    this.buffer.push(line);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.kick();
    return done;
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = this.flush().finally(() => {
      this.writing = undefined;
      // appended after the loop's last look, before this ran
      if (this.buffer.length > 0) this.kick();
    });
  }

  private nextName(seqPart?: string): string {
    return `spool_${this.owner}~${seqPart ?? `${String(Date.now()).padStart(13, "0")}-${String(++this.seq % 1e6).padStart(6, "0")}`}.jsonl`;
  }

  private async flush(): Promise<void> {
    while (this.buffer.length > 0) {
      const lines = this.buffer;
      const waiters = this.waiters;
      this.buffer = [];
      this.waiters = [];
      try {
        if (!this.active) {
          const name = this.nextName();
          this.active = { name, handle: open(join(this.dir, name), "a", 0o600) };
          await this.active.handle;
          await syncDir(this.dir);
        }
        const handle = await this.active.handle;
        await handle.write(lines.join(""));
        await handle.datasync();
        this.pending += lines.length;
        for (const w of waiters) w.resolve();
      } catch (e) {
        this.bytes -= lines.reduce((n, l) => n + l.length, 0);
        const error = new SpoolError("SPOOL_WRITE", `cannot write the spool in ${this.dir}: ${(e as Error).message}`, { cause: e });
        for (const w of waiters) w.reject(error);
      }
    }
  }

  /** Closes the file being appended to; later appends start a new one. */
  private async seal(): Promise<void> {
    while (this.writing) await this.writing;
    const active = this.active;
    if (!active) return;
    this.active = undefined;
    this.sealed.set(active.name, { name: active.name, done: 0 });
    await (await active.handle).close().catch(() => {});
  }

  /** Takes over the files of processes that are gone; returns how many. */
  claimOrphans(): Promise<number> {
    return this.claim();
  }

  private orphaned(host: string, pid: number, startMs: number, stats: Stats): boolean {
    const me = this.me;
    if (host === me.host && pid === me.pid) return startMs !== me.startMs; // our predecessor with the same pid (a container's pid 1)
    if (host === me.host && !this.isAlive(pid)) return true;
    return Date.now() - stats.mtimeMs > this.staleMs;
  }

  private async claim(): Promise<number> {
    let claimed = 0;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const name of names) {
      const m = FILE.exec(name);
      if (!m) continue;
      const [, host, pid, startMs, seq] = m as unknown as [string, string, string, string, string];
      if (`${host}_${pid}_${startMs}` === this.owner) continue;
      let stats: Stats;
      try {
        stats = statSync(join(this.dir, name));
      } catch {
        continue; // claimed by someone else meanwhile
      }
      if (!this.orphaned(host, Number(pid), Number(startMs), stats)) continue;
      const mine = this.nextName(seq);
      try {
        await rename(join(this.dir, name), join(this.dir, mine));
      } catch {
        continue; // another process won the race
      }
      this.sealed.set(mine, { name: mine, done: 0 });
      this.bytes += stats.size;
      this.pending += await countLines(join(this.dir, mine));
      claimed++;
      this.options.hooks?.claimed?.({ file: mine, from: name });
    }
    return claimed;
  }

  /**
   * Applies every spooled write in order (oldest file first, line order within): this process's
   * own, and those of processes that are gone. Stops at the first write `apply` refuses.
   * Calls made while one runs join it.
   */
  replay(apply: (write: SpooledWrite) => Promise<unknown>): Promise<ReplayResult> {
    this.replaying ??= this.replayAll(apply).finally(() => (this.replaying = undefined));
    return this.replaying;
  }

  private async replayAll(apply: (write: SpooledWrite) => Promise<unknown>): Promise<ReplayResult> {
    let replayed = 0;
    await this.claim();
    // appends made while replaying land in a new segment: go round until none is left
    for (;;) {
      await this.seal();
      const segments = [...this.sealed.values()].sort((a, b) => seqOf(a.name).localeCompare(seqOf(b.name)));
      if (segments.length === 0) return { replayed };
      for (const segment of segments) {
        const result = await this.replaySegment(segment, apply);
        replayed += result.replayed;
        if (result.error !== undefined) return { replayed, error: result.error };
      }
      if (!this.active && this.buffer.length === 0 && !this.writing) return { replayed };
    }
  }

  private async replaySegment(segment: Segment, apply: (write: SpooledWrite) => Promise<unknown>): Promise<ReplayResult> {
    const path = join(this.dir, segment.name);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      this.sealed.delete(segment.name); // gone: nothing to replay
      return { replayed: 0 };
    }
    const lines = text.split("\n");
    const torn = lines.pop() as string; // "" when the file ends with a newline
    let replayed = 0;
    for (let i = segment.done; i < lines.length; i++) {
      const write = parseLine(lines[i] as string);
      if (!write) {
        this.options.hooks?.skipped?.({ file: segment.name, line: i + 1, reason: "corrupt" });
      } else {
        try {
          await apply(write);
        } catch (error) {
          segment.done = i;
          return { replayed, error };
        }
        replayed++;
      }
      segment.done = i + 1;
      this.pending = Math.max(0, this.pending - 1);
    }
    if (torn !== "") this.options.hooks?.skipped?.({ file: segment.name, line: lines.length + 1, reason: "torn" });
    await unlink(path).catch(() => {});
    this.bytes = Math.max(0, this.bytes - Buffer.byteLength(text));
    this.sealed.delete(segment.name);
    return { replayed };
  }

  /** Keeps this process's files fresh, so no other process takes them while it lives. */
  private touch(): void {
    const now = new Date();
    for (const name of [...this.sealed.keys(), ...(this.active ? [this.active.name] : [])]) {
      try {
        utimesSync(join(this.dir, name), now, now);
      } catch {
        // replayed and removed meanwhile
      }
    }
  }

  /** Writes what is buffered and closes the file; what is spooled stays for the next process. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.seal();
  }
}

async function countLines(path: string): Promise<number> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.split("\n").length - 1;
}

const seqOf = (name: string) => FILE.exec(name)?.[4] ?? name;

function parseLine(line: string): SpooledWrite | undefined {
  try {
    const value = JSON.parse(line) as { w?: { kind?: unknown } };
    if (value && typeof value.w === "object" && value.w !== null && KINDS.has(value.w.kind as string)) return value.w as SpooledWrite;
  } catch {
    // reported by the caller
  }
  return undefined;
}

/** Makes a new file's directory entry durable (best effort: not every platform syncs a directory). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // the data itself is synced; only the entry might need the next sync
  }
}
