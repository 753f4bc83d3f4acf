/**
 * Who owns a spool file (the usage spool, state/spool.ts, and the alert spool, alerts/spool.ts):
 * `<host>_<pid>_<startMs>`, and whether a pid of this host still runs; each spool keeps its own
 * rule for when an owner is gone (the usage spool's live owners heartbeat, so age decides).
 */
import { hostname } from "node:os";

export interface SpoolIdentity {
  host: string;
  pid: number;
  startMs: number;
}

export interface SpoolOwner extends SpoolIdentity {
  /** `<host>_<pid>_<startMs>`, the host reduced to letters, digits and dashes. */
  name: string;
}

/** This process as a spool owner (or the identity a test hands in). */
export function spoolOwner(given?: SpoolIdentity): SpoolOwner {
  const id = given ?? { host: hostname(), pid: process.pid, startMs: Date.now() };
  const host = id.host.replace(/[^A-Za-z0-9-]/g, "-");
  return { host, pid: id.pid, startMs: id.startMs, name: `${host}_${id.pid}_${id.startMs}` };
}

/** Whether a pid of this host is alive (EPERM: alive, another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
