/**
 * Alerts not yet delivered, on disk, so a restart loses none (issue 18 §4). One file per alert,
 * `alert_<id>~<owner>.json`, written whole (temporary file, fsync, rename, fsync of the
 * directory) before the first attempt, and removed once delivered or given up. The owner is
 * `<host>_<pid>_<startMs>`: a process resumes its own files, and takes over those of a process
 * that is gone (same host and its pid dead, or not touched for `staleMs` from another host) by
 * renaming them to its own name; rename is atomic, so of two processes trying one wins, and the
 * alert is sent by one. The owner touches a file at each attempt, which keeps it its own.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { open, readFile, rename, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { SpooledAlert } from "./types.ts";
import { pidAlive, spoolOwner, type SpoolIdentity, type SpoolOwner } from "../coordination/spool-owner.ts";

const FILE = /^alert_([0-9a-f]{32})~(.+)_(\d+)_(\d+)\.json$/;

export interface AlertSpoolOptions {
  identity?: SpoolIdentity;
  isAlive?: (pid: number) => boolean;
  /** Another host's file not touched for this long is orphaned. Default 10 min (attempts touch it at least every 5). */
  staleMs?: number;
  /** A file that is not an alert (torn, corrupt): set aside as `<name>.corrupt`. */
  onCorrupt?: (file: string) => void;
}

export class AlertSpool {
  private readonly me: SpoolOwner;

  private constructor(
    readonly dir: string,
    private readonly options: AlertSpoolOptions,
  ) {
    this.me = spoolOwner(options.identity);
  }

  /** Creates the directory (0700) if needed. */
  static open(dir: string, options: AlertSpoolOptions = {}): AlertSpool {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    readdirSync(dir); // fails now, naming the directory, if it cannot be used
    return new AlertSpool(dir, options);
  }

  private path(id: string): string {
    return join(this.dir, `alert_${id}~${this.me.name}.json`);
  }

  /** Writes the alert durably (returns once it is on disk). */
  async put(alert: SpooledAlert): Promise<void> {
    const final = this.path(alert.id);
    const temporary = `${final}.tmp`;
    const handle = await open(temporary, "w", 0o600);
    try {
      await handle.writeFile(JSON.stringify(alert));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temporary, final);
    await this.syncDir();
  }

  async remove(id: string): Promise<void> {
    await unlink(this.path(id)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  }

  /** Marks the file as still owned (at each delivery attempt). */
  async touch(id: string): Promise<void> {
    const now = new Date();
    await utimes(this.path(id), now, now).catch(() => {});
  }

  /** This process's files and the orphans it could take over: the alerts to resume. */
  async recover(): Promise<SpooledAlert[]> {
    const found: SpooledAlert[] = [];
    for (const name of readdirSync(this.dir)) {
      const m = FILE.exec(name);
      if (!m) continue;
      const [, id, host, pid, startMs] = m;
      const owner = `${host}_${pid}_${startMs}`;
      let from = join(this.dir, name);
      if (owner !== this.me.name) {
        if (!(await this.orphaned(from, host!, Number(pid), Number(startMs)))) continue;
        const to = this.path(id!);
        try {
          await rename(from, to);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // another process took it
          throw e;
        }
        from = to;
      }
      try {
        const alert = JSON.parse(await readFile(from, "utf8")) as SpooledAlert;
        if (alert.id !== id || typeof alert.key !== "string" || typeof alert.claimant !== "string") throw new Error("not an alert");
        found.push(alert);
      } catch {
        await rename(from, `${from}.corrupt`).catch(() => {});
        this.options.onCorrupt?.(from);
      }
    }
    return found.sort((a, b) => a.detectedAt - b.detectedAt);
  }

  private async orphaned(path: string, host: string, pid: number, startMs: number): Promise<boolean> {
    const me = this.me;
    if (host === me.host) {
      if (pid === me.pid) return startMs !== me.startMs; // our pid, an earlier life of it
      return !(this.options.isAlive ?? pidAlive)(pid);
    }
    try {
      return Date.now() - (await stat(path)).mtimeMs > (this.options.staleMs ?? 10 * 60_000);
    } catch {
      return false;
    }
  }

  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, "r").catch(() => undefined);
    if (!handle) return;
    try {
      await handle.sync();
    } catch {
      // some file systems refuse fsync on a directory; the rename is still atomic
    } finally {
      await handle.close();
    }
  }
}
