/**
 * Where an Anthropic upstream's key comes from. A key file is watched (its directory, so an
 * atomic rename or a Kubernetes secret update is seen), polled as a fallback for filesystems that
 * do not report changes, and re-read on demand (SIGHUP, or an upstream 401): the next request
 * uses a new key, requests in flight keep the one they started with. A file that becomes empty,
 * unreadable or garbled keeps the last good key and says so once. An environment variable is
 * read once, at start. The key itself is never logged: a short SHA-256 fingerprint tells which.
 */
import { createHash } from "node:crypto";
import { watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { KeyConfig } from "./config.ts";
import { type EventLogger, UpstreamError } from "./types.ts";

export interface KeySource {
  /** The key for the next request. */
  current(): string;
  /** Reads the source again now; true when the key changed. */
  refresh(): Promise<boolean>;
  close(): void;
}

/** The filesystem as a key file needs it. */
export interface KeyFiles {
  read(path: string): Promise<string>;
  /** Calls `onChange` when something in the file's directory changes; returns the stop. */
  watch(path: string, onChange: () => void): () => void;
}

export const nodeKeyFiles: KeyFiles = {
  read: (path) => readFile(path, "utf8"),
  watch(path, onChange) {
    try {
      const watcher = watch(dirname(path), { persistent: false }, () => onChange());
      watcher.on("error", () => {}); // the directory went away: polling still reads the file
      return () => watcher.close();
    } catch {
      return () => {}; // no watch on this filesystem: polling alone
    }
  },
};

/** A header value: one printable token, nothing that could split a header. */
const KEY = /^[\x21-\x7e]{1,1024}$/;

/** The key in a file's text (surrounding whitespace and the final newline dropped); undefined when there is none. */
export function keyInText(text: string): string | undefined {
  const key = text.trim();
  return KEY.test(key) ? key : undefined;
}

/** Tells which key is in use without showing it. */
export function fingerprint(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

export class StaticKeySource implements KeySource {
  constructor(private readonly key: string) {}
  current(): string {
    return this.key;
  }
  async refresh(): Promise<boolean> {
    return false;
  }
  close(): void {}
}

export interface FileKeyOptions {
  /** The upstream's name, for messages. */
  upstream: string;
  log: EventLogger;
  files?: KeyFiles;
  /** Read again this often even without a change event (default 30 s). */
  pollMs?: number;
  /** Change events closer than this are read once (default 50 ms). */
  debounceMs?: number;
}

export class FileKeySource implements KeySource {
  private key: string;
  /** A bad read was reported: the next ones are quiet until the file is good again. */
  private reported = false;
  private reading: Promise<boolean> | undefined;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private readonly poll: ReturnType<typeof setInterval>;
  private readonly stopWatching: () => void;
  private readonly files: KeyFiles;

  /** Reads the file once; a missing, empty or garbled file fails the start with a message naming it. */
  static async open(path: string, options: FileKeyOptions): Promise<FileKeySource> {
    const files = options.files ?? nodeKeyFiles;
    let text: string;
    try {
      text = await files.read(path);
    } catch (e) {
      throw new UpstreamError("key_source", `upstream ${options.upstream}: cannot read the key file ${path}: ${(e as Error).message}`, { cause: e });
    }
    const key = keyInText(text);
    if (key === undefined) throw new UpstreamError("key_source", `upstream ${options.upstream}: the key file ${path} is empty or holds more than the key (write the key alone, on one line)`);
    return new FileKeySource(path, key, files, options);
  }

  private constructor(
    readonly path: string,
    key: string,
    files: KeyFiles,
    private readonly options: FileKeyOptions,
  ) {
    this.key = key;
    this.files = files;
    this.stopWatching = files.watch(path, () => this.changed());
    this.poll = setInterval(() => void this.refresh(), options.pollMs ?? 30_000);
    this.poll.unref?.();
  }

  current(): string {
    return this.key;
  }

  /** One read at a time; a caller arriving during a read gets that read's answer. */
  refresh(): Promise<boolean> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  close(): void {
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.stopWatching();
  }

  private changed(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.refresh(), this.options.debounceMs ?? 50);
    this.debounce.unref?.();
  }

  private async read(): Promise<boolean> {
    let text: string;
    try {
      text = await this.files.read(this.path);
    } catch (e) {
      this.keepLastGood(`cannot be read (${(e as Error).message})`);
      return false;
    }
    const key = keyInText(text);
    if (key === undefined) {
      this.keepLastGood(text.trim() === "" ? "is empty" : "holds more than the key");
      return false;
    }
    const { upstream, log } = this.options;
    if (this.reported) log("info", `upstream ${upstream}: the key file ${this.path} is good again`, { upstream });
    this.reported = false;
    if (key === this.key) return false;
    this.key = key;
    log("info", `upstream ${upstream}: new key read from ${this.path}; the next request uses it`, { upstream, key_fingerprint: fingerprint(key) });
    return true;
  }

  private keepLastGood(why: string): void {
    if (this.reported) return;
    this.reported = true;
    const { upstream, log } = this.options;
    log("warn", `upstream ${upstream}: the key file ${this.path} ${why}; still using the last good key`, { upstream, key_fingerprint: fingerprint(this.key) });
  }
}

/** The key source a configuration names. */
export async function openKeySource(config: KeyConfig, options: FileKeyOptions & { env?: Record<string, string | undefined> }): Promise<KeySource> {
  if (config.kind === "file") return FileKeySource.open(config.path, options);
  if (config.kind === "inline") return new StaticKeySource(config.value);
  const value = (options.env ?? process.env)[config.name];
  const key = value === undefined ? undefined : keyInText(value);
  if (key === undefined) {
    throw new UpstreamError("key_source", `upstream ${options.upstream}: the environment variable ${config.name} (its key) is ${value === undefined || value.trim() === "" ? "not set" : "not a single key"}`);
  }
  return new StaticKeySource(key);
}
