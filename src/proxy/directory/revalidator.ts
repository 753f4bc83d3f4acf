/**
 * Offboarding from the directory (issue 18 §2): every active session is re-checked with its
 * issuer's `userInfo`, using the session's latest access token, at most every `intervalMs`.
 * Cognito answers 401 for a token whose refresh token was revoked, after a global sign-out, and
 * for a disabled or deleted user; the gateway cannot see any of that in the JWT itself.
 *
 *   - 401: the session is revoked, `reason: "issuer"` (the `revoke` callback: the denylist write,
 *     on every replica, is the caller's), one log line; the person's other sessions are checked
 *     at once, each on its own answer (a disabled person loses them all within seconds).
 *   - 2xx: fine until the next interval (the body goes to `onUserInfo`: the e-mail cache).
 *   - anything else (5xx, 429, 400, a timeout, a network error, a body too large): never a
 *     revocation; counted, logged once per issuer while it lasts, retried next interval.
 *
 * Never on the request path: `seen()` is a map update; the request that finds a check due is
 * served, and later ones are refused once the answer is in and the denylist has it. Bounded:
 * one call per active session per interval (optionally across replicas through `claims`), at
 * most `concurrency` at once, each under one deadline and a size cap (read-capped.ts). A token
 * about to expire is not sent (the issuer would say 401 for an expired token, not a revoked one).
 */
import { readCapped } from "../../shared/read-capped.ts";
import type { ClaimOnce } from "../coordination/claim-once.ts";
import { ActiveSessions, sessionKey, type SessionSighting, type TrackedSession } from "./sessions.ts";

export const DEFAULT_REVALIDATE_SECONDS = 60;
export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BYTES = 64 * 1024;
/** Tokens closer than this to their expiry are not checked (clock skew with the issuer). */
export const DEFAULT_EXPIRY_MARGIN_MS = 30_000;

export type CheckResult = "ok" | "revoked" | "error" | "skipped";

export interface Revocation {
  tenant: string;
  issuer: string;
  sub: string;
  /** The session's `origin_jti`: the denylist entry to write. */
  sessionId: string;
  reason: "issuer";
  /** What the issuer said, for the log and the audit (no token in it). */
  detail: string;
  displayName?: string;
  /** Until when the denylist entry is needed: the session's latest token's expiry (epoch ms). */
  until: number;
}

export type DirectoryLog = (level: "info" | "warn", message: string, fields: Record<string, unknown>) => void;

export interface RevalidatorDeps {
  /** The network, bounded by this module (deadline, size cap, no redirects). */
  fetch(url: string, init: RequestInit): Promise<Response>;
  /** The issuer's userinfo_endpoint (the discovery cache the e-mail lookup uses). */
  userInfoEndpoint(issuer: string): Promise<string>;
  /** Denylist the session on every replica. A rejection is retried at the next sweep. */
  revoke(revocation: Revocation): Promise<void>;
  /** A userInfo answer (2xx JSON object), e.g. for the e-mail cache. */
  onUserInfo?(issuer: string, sub: string, body: Record<string, unknown>): void;
  log: DirectoryLog;
  /** A counter by result (a prom-client Counter with the label `result` fits). */
  checks: { inc(labels: { result: CheckResult }): void };
  now(): number;
  /** `--revalidate-seconds` × 1000 (default 60 s). */
  intervalMs?: number;
  concurrency?: number;
  timeoutMs?: number;
  maxBytes?: number;
  expiryMarginMs?: number;
  maxSessions?: number;
  /** Across replicas: one check per session per interval. Without it, each replica checks the sessions it sees. */
  claims?: { store: ClaimOnce; claimant: string };
}

class TooLarge extends Error {}

/** A short, printable rendering of what the issuer said (its error_description, else the status). */
function issuerDetail(status: number, text: string): string {
  let description: unknown;
  try {
    description = (JSON.parse(text) as { error_description?: unknown }).error_description;
  } catch {
    description = undefined;
  }
  const said = typeof description === "string" ? description.replace(/[^\x20-\x7e]/g, "?").slice(0, 120) : "";
  return said ? `${status}: ${said}` : String(status);
}

export class Revalidator {
  readonly sessions: ActiveSessions;
  private readonly queue = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  /** Sessions revoked here, until their token expires: sightings before the denylist catches up are ignored. */
  private readonly revoked = new Map<string, number>();
  /** Issuers whose userInfo is failing now (logged once per streak). */
  private readonly failing = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly deps: RevalidatorDeps) {
    this.sessions = new ActiveSessions(deps.maxSessions);
  }

  private get intervalMs(): number {
    return this.deps.intervalMs ?? DEFAULT_REVALIDATE_SECONDS * 1000;
  }

  /** From the request path, for every authenticated request: O(1), never waits. */
  seen(sighting: SessionSighting): void {
    const now = this.deps.now();
    const key = sessionKey(sighting);
    const revokedUntil = this.revoked.get(key);
    if (revokedUntil !== undefined) {
      if (revokedUntil > now) return;
      this.revoked.delete(key);
    }
    const session = this.sessions.seen(sighting, now, now, key);
    if (session.nextCheck <= now) this.enqueue(session);
  }

  /** Queues every due session and drops expired ones (the periodic sweep). */
  sweep(): void {
    const now = this.deps.now();
    this.sessions.prune(now);
    for (const [key, until] of this.revoked) if (until <= now) this.revoked.delete(key);
    for (const session of this.sessions.due(now)) this.enqueue(session);
  }

  /** Sweeps every `min(interval / 4, 5 s)`. */
  start(): this {
    if (this.timer) return this;
    this.timer = setInterval(() => this.sweep(), Math.max(250, Math.min(this.intervalMs / 4, 5_000)));
    this.timer.unref?.();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves when no check is queued or running (tests, shutdown). */
  async settled(): Promise<void> {
    for (;;) {
      this.pump();
      if (this.running.size === 0) return;
      await Promise.all([...this.running.values()]);
    }
  }

  /** How many checks are running now (≤ concurrency). */
  get inFlight(): number {
    return this.running.size;
  }

  private enqueue(session: TrackedSession): void {
    if (this.running.has(session.key)) return;
    this.queue.add(session.key);
    this.pump();
  }

  private pump(): void {
    const cap = this.deps.concurrency ?? DEFAULT_CONCURRENCY;
    for (const key of this.queue) {
      if (this.running.size >= cap) return;
      this.queue.delete(key);
      const session = this.sessions.get(key);
      if (!session || this.running.has(key)) continue;
      const run = this.check(session)
        .catch((e: unknown) => this.deps.log("warn", `directory check failed unexpectedly: ${(e as Error).message}`, { session: session.sessionId }))
        .finally(() => {
          this.running.delete(key);
          this.pump();
        });
      this.running.set(key, run);
    }
  }

  private async check(session: TrackedSession): Promise<void> {
    const now = this.deps.now();
    const interval = this.intervalMs;
    session.nextCheck = now + interval;
    if (session.expiresAt - now <= (this.deps.expiryMarginMs ?? DEFAULT_EXPIRY_MARGIN_MS)) return this.count("skipped");
    if (this.deps.claims) {
      const slot = Math.floor(now / interval);
      const won = await this.deps.claims.store.claimOnce(`revalidate\n${session.key}\n${slot}`, this.deps.claims.claimant, interval).catch(() => true); // the store down: check here rather than not at all
      if (!won) return this.count("skipped");
    }
    const answer = await this.ask(session);
    if (answer.kind === "error") {
      this.noteFailure(session.issuer, answer.detail);
      return this.count("error");
    }
    this.noteRecovery(session.issuer);
    session.lastChecked = this.deps.now();
    if (answer.kind === "ok") {
      if (answer.body) this.deps.onUserInfo?.(session.issuer, session.sub, answer.body);
      return this.count("ok");
    }
    await this.revokeSession(session, answer.detail);
  }

  private async revokeSession(session: TrackedSession, detail: string): Promise<void> {
    const revocation: Revocation = { tenant: session.tenant, issuer: session.issuer, sub: session.sub, sessionId: session.sessionId, reason: "issuer", detail, until: session.expiresAt, ...(session.displayName !== undefined ? { displayName: session.displayName } : {}) };
    try {
      await this.deps.revoke(revocation);
    } catch (e) {
      // not lost: asked again at the next sweep
      session.nextCheck = this.deps.now();
      this.deps.log("warn", `could not revoke session ${session.sessionId} after the issuer refused it (${(e as Error).message}); retrying`, { tenant: session.tenant, sub: session.sub, session: session.sessionId });
      return this.count("error");
    }
    this.sessions.forget(session.key);
    this.revoked.set(session.key, session.expiresAt);
    this.deps.log("info", `session ${session.sessionId} of ${session.displayName ?? session.sub} revoked: the issuer refused its token at userInfo (${detail})`, {
      tenant: session.tenant,
      sub: session.sub,
      session: session.sessionId,
      reason: "issuer",
      issuer_said: detail,
    });
    this.count("revoked");
    // the same person's other sessions: asked now, each revoked only on its own 401
    for (const other of this.sessions.ofPerson(session.tenant, session.issuer, session.sub)) {
      other.nextCheck = Math.min(other.nextCheck, this.deps.now());
      this.enqueue(other);
    }
  }

  private async ask(session: TrackedSession): Promise<{ kind: "ok"; body?: Record<string, unknown> } | { kind: "revoked"; detail: string } | { kind: "error"; detail: string }> {
    const maxBytes = this.deps.maxBytes ?? DEFAULT_MAX_BYTES;
    const signal = AbortSignal.timeout(this.deps.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    let endpoint: string;
    try {
      endpoint = await this.deps.userInfoEndpoint(session.issuer);
    } catch (e) {
      return { kind: "error", detail: `no userInfo endpoint (${(e as Error).message})` };
    }
    try {
      const response = await this.deps.fetch(endpoint, { method: "GET", headers: { authorization: `Bearer ${session.accessToken}`, accept: "application/json" }, redirect: "error", signal });
      const bytes = response.body ? await readCapped(response.body, maxBytes, { tooLarge: () => new TooLarge(`more than ${maxBytes} bytes`), signal }) : new Uint8Array();
      const text = new TextDecoder().decode(bytes);
      if (response.status === 401) return { kind: "revoked", detail: issuerDetail(401, text) };
      if (!response.ok) return { kind: "error", detail: `HTTP ${response.status}` };
      try {
        const body: unknown = JSON.parse(text);
        return { kind: "ok", ...(body !== null && typeof body === "object" && !Array.isArray(body) ? { body: body as Record<string, unknown> } : {}) };
      } catch {
        return { kind: "ok" };
      }
    } catch (e) {
      const error = e as Error;
      return { kind: "error", detail: error instanceof TooLarge ? error.message : error.name === "TimeoutError" || signal.aborted ? "no answer in time" : error.message };
    }
  }

  private count(result: CheckResult): void {
    this.deps.checks.inc({ result });
  }

  private noteFailure(issuer: string, detail: string): void {
    if (this.failing.has(issuer)) return;
    this.failing.add(issuer);
    this.deps.log("warn", `directory checks at ${issuer} fail (${detail}); no session is revoked for that, each is asked again next interval`, { issuer });
  }

  private noteRecovery(issuer: string): void {
    if (this.failing.delete(issuer)) this.deps.log("info", `directory checks at ${issuer} work again`, { issuer });
  }
}
