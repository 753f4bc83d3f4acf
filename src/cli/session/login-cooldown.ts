/**
 * No tab storms. A background caller (Claude Code, an editor) that needs a login opens the
 * browser once; if nobody finishes that sign-in, further *automatic* launches wait a cool-down
 * instead of opening a tab per call (kubelogin #904, #1330). An explicit `agent-runner-auth
 * login` always runs, and a successful login clears the record.
 *
 * The record is a small JSON file in the private state directory, written atomically.
 */
import { stateDir, joinPath } from "../paths.ts";

export const LOGIN_COOLDOWN_MS = 10 * 60_000;

export interface LoginAttempt {
  startedAt: number;
  /** Set when the attempt ended without a session. */
  failedAt?: number;
  reason?: string;
}

/** Where attempts are recorded: a file per profile (fileAttempts), a map in tests. */
export interface AttemptRecords {
  read(profile: string): Promise<LoginAttempt | null>;
  /** Best effort: failing to record must not fail the login itself. */
  write(profile: string, attempt: LoginAttempt): Promise<void>;
  clear(profile: string): Promise<void>;
}

function recordPath(profile: string): string {
  return joinPath(stateDir(), `${profile}.login-attempt.json`);
}

/** The records as small JSON files in the private state directory, written atomically. */
export const fileAttempts: AttemptRecords = {
  async read(profile) {
    try {
      const value = (await Bun.file(recordPath(profile)).json()) as LoginAttempt;
      return typeof value?.startedAt === "number" ? value : null;
    } catch {
      return null;
    }
  },
  async write(profile, attempt) {
    const { writeFileAtomic } = await import("../fs-atomic.ts");
    try {
      writeFileAtomic(recordPath(profile), JSON.stringify(attempt), { mode: 0o600 });
    } catch {
      // best effort: failing to record must not fail the login itself
    }
  },
  async clear(profile) {
    const { unlinkSync } = await import("node:fs");
    try {
      unlinkSync(recordPath(profile));
    } catch {}
  },
};

/**
 * Why an automatic browser launch must wait, or null when it may go ahead. An attempt that
 * started but never recorded an end (the process was killed) counts as abandoned once its own
 * timeout has passed.
 */
export function cooldownBlocker(attempt: LoginAttempt | null, now: number, loginTimeoutMs: number, cooldownMs = LOGIN_COOLDOWN_MS): string | null {
  if (!attempt) return null;
  const ended = attempt.failedAt ?? (now - attempt.startedAt > loginTimeoutMs ? attempt.startedAt + loginTimeoutMs : undefined);
  if (ended === undefined) return null; // an attempt is (or may be) in progress: the lock serialises it
  const until = ended + cooldownMs;
  if (now >= until) return null;
  const minutes = Math.ceil((until - now) / 60_000);
  return `an automatic sign-in was not completed${attempt.reason ? ` (${attempt.reason})` : ""}, so the browser is not opened again for ${minutes} min`;
}

/** Runs an automatic login, recording its start and, if it fails, its end. */
export async function recordedLogin<T>(records: AttemptRecords, profile: string, now: () => number, login: () => Promise<T>): Promise<T> {
  const startedAt = now();
  await records.write(profile, { startedAt });
  try {
    const result = await login();
    await records.clear(profile);
    return result;
  } catch (e) {
    await records.write(profile, { startedAt, failedAt: now(), reason: String((e as Error)?.message ?? e).slice(0, 200) });
    throw e;
  }
}
