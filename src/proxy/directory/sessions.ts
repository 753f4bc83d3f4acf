/**
 * The sessions this gateway process has seen recently: one entry per sign-in (`origin_jti`, the
 * same for every access token refreshed from one refresh token), with the latest access token
 * seen for it, so the issuer can be asked about the session as it is now. Bounded: a session
 * whose latest token has expired is dropped (the gateway refuses that token anyway; a refreshed
 * one brings the session back), and past `maxSessions` the least recently seen go first.
 * Tokens live only in this process's memory, never in a log or the state store.
 */

export interface SessionSighting {
  tenant: string;
  issuer: string;
  sub: string;
  /** `origin_jti` (or the token's own `jti` for an issuer without sessions). */
  sessionId: string;
  accessToken: string;
  /** The token's `exp`, epoch ms. */
  expiresAt: number;
  /** For log lines: the person's email or username. */
  displayName?: string;
}

export interface TrackedSession extends SessionSighting {
  key: string;
  firstSeen: number;
  lastSeen: number;
  /** When the issuer last answered about it (epoch ms; 0: never). */
  lastChecked: number;
  /** When it is next due (epoch ms). */
  nextCheck: number;
}

export const DEFAULT_MAX_SESSIONS = 100_000;

export const sessionKey = (s: Pick<SessionSighting, "tenant" | "issuer" | "sessionId">): string => `${s.tenant}\n${s.issuer}\n${s.sessionId}`;

export class ActiveSessions {
  /** Map order is recency order (to the second): a sighting moves its session to the end. */
  private readonly sessions = new Map<string, TrackedSession>();

  constructor(private readonly maxSessions = DEFAULT_MAX_SESSIONS) {}

  get size(): number {
    return this.sessions.size;
  }

  get(key: string): TrackedSession | undefined {
    return this.sessions.get(key);
  }

  /** Records a request of this session; a new session is due at `firstCheckAt`. Returns the entry. */
  seen(sighting: SessionSighting, now: number, firstCheckAt: number, key = sessionKey(sighting)): TrackedSession {
    const known = this.sessions.get(key);
    if (known) {
      // keep the freshest token: the one a refresh produced last
      if (sighting.expiresAt > known.expiresAt) {
        known.accessToken = sighting.accessToken;
        known.expiresAt = sighting.expiresAt;
      }
      if (sighting.displayName !== undefined) known.displayName = sighting.displayName;
      // recency order to the second: moving the entry on every request would cost more than the rest
      if (now - known.lastSeen >= 1000) {
        this.sessions.delete(key);
        this.sessions.set(key, known);
      }
      known.lastSeen = now;
      return known;
    }
    const tracked: TrackedSession = { ...sighting, key, firstSeen: now, lastSeen: now, lastChecked: 0, nextCheck: firstCheckAt };
    this.sessions.set(key, tracked);
    for (const oldest of this.sessions.keys()) {
      if (this.sessions.size <= this.maxSessions) break;
      this.sessions.delete(oldest);
    }
    return tracked;
  }

  forget(key: string): void {
    this.sessions.delete(key);
  }

  /** Drops sessions whose latest token has expired; returns how many. */
  prune(now: number): number {
    let dropped = 0;
    for (const [key, s] of this.sessions) {
      if (s.expiresAt <= now) {
        this.sessions.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** Sessions due at `now`, the longest overdue first. */
  due(now: number): TrackedSession[] {
    const due: TrackedSession[] = [];
    for (const s of this.sessions.values()) if (s.nextCheck <= now) due.push(s);
    return due.sort((a, b) => a.nextCheck - b.nextCheck);
  }

  /** The other sessions of a person (after the issuer refused one of theirs). */
  ofPerson(tenant: string, issuer: string, sub: string): TrackedSession[] {
    const found: TrackedSession[] = [];
    for (const s of this.sessions.values()) if (s.tenant === tenant && s.issuer === issuer && s.sub === sub) found.push(s);
    return found;
  }
}
