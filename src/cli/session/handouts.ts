/**
 * When `token` last handed a token out for a profile, and whether the gateway refused one since
 * (issue 21). Claude Code runs its apiKeyHelper again right after a 401: a run within
 * RECHECK_WITHIN_MS of the last hand-out (or after a refusal) asks the gateway before handing the
 * same token out again. Any other run is the cached path, which this must not slow down: the
 * record is a tiny file in the private state directory, read and written with Bun's own file API
 * (about 25 µs each, measured; node:fs is not loaded for it). No token material is kept in it.
 */
import { joinPath, stateDir } from "../paths.ts";

/** A hand-out this recent means the consumer may be asking again after a refusal. */
export const RECHECK_WITHIN_MS = 60_000;

export interface Handout {
  /** When a token was last printed (ms since the epoch). */
  printedAt?: number;
  /** When the gateway last refused this profile's tokens, if no token was printed since. */
  refusedAt?: number;
}

/** Where hand-outs are recorded: a file per profile (fileHandouts), a map in tests. */
export interface HandoutRecords {
  read(profile: string): Promise<Handout | null>;
  /** Best effort: failing to record must never fail the command. */
  write(profile: string, handout: Handout): Promise<void>;
}

/** Whether to ask the gateway before handing a token out: a recent hand-out, or a refusal not yet followed by one. */
export function askGatewayFirst(handout: Handout | null, now: number): boolean {
  if (!handout) return false;
  if (handout.refusedAt !== undefined) return true;
  return handout.printedAt !== undefined && now - handout.printedAt < RECHECK_WITHIN_MS;
}

function handoutPath(profile: string): string {
  return joinPath(stateDir(), `${profile}.handout.json`);
}

function parseHandout(text: string): Handout | null {
  try {
    const value = JSON.parse(text) as Record<string, unknown> | null;
    if (typeof value !== "object" || value === null) return null;
    const number = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
    const printedAt = number(value.printedAt);
    const refusedAt = number(value.refusedAt);
    return { ...(printedAt !== undefined ? { printedAt } : {}), ...(refusedAt !== undefined ? { refusedAt } : {}) };
  } catch {
    return null;
  }
}

export const fileHandouts: HandoutRecords = {
  async read(profile) {
    try {
      return parseHandout(await Bun.file(handoutPath(profile)).text());
    } catch {
      return null; // none yet (or unreadable): the cached path as before
    }
  },
  async write(profile, handout) {
    const path = handoutPath(profile);
    const text = JSON.stringify(handout);
    try {
      // createPath: false, so the state directory is only ever made private (0700) below
      await Bun.write(path, text, { createPath: false });
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") return;
      try {
        (await import("../fs-atomic.ts")).ensurePrivateDir(stateDir());
        await Bun.write(path, text, { createPath: false });
      } catch {
        // best effort
      }
    }
  },
};
