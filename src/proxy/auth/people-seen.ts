/**
 * Remembers, in the state store, the people this gateway has seen a verified token of (sub,
 * username, email, display name, first and last seen), so an admin's `--user` value is matched
 * against who people really are: a username that looks like an e-mail, an e-mail that only the
 * IdP's userInfo knows, a sub.
 *
 * Not a write per request: each process writes a person when it first sees them, when their
 * identifiers change (the e-mail resolved by userInfo arrives), and at most once per `refreshMs`
 * after that (to keep `last seen` roughly current). The write is not awaited; a failure is
 * forgotten, so the next request tries again.
 */
import type { Person } from "../model/person.ts";
import type { GatewayState } from "../state/types.ts";

const MAX_ENTRIES = 50_000;

export class PeopleSeen {
  private readonly written = new Map<string, { fingerprint: string; at: number }>();
  /** When each person object (shared by a token's requests: auth/person.ts) was last found written: no key or fingerprint to build. */
  private readonly checked = new WeakMap<Person, number>();

  constructor(
    private readonly state: Pick<GatewayState, "notePerson">,
    private readonly refreshMs = 3_600_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called on every verified request; writes only when something is new. */
  saw(person: Person): void {
    const now = this.now();
    const checked = this.checked.get(person);
    if (checked !== undefined && now - checked < this.refreshMs) return;
    const key = `${person.tenant}\0${person.sub}`;
    const fingerprint = `${person.username ?? ""}\0${person.email ?? ""}\0${person.displayName}\0${person.groups.join("\0")}`;
    const entry = this.written.get(key);
    if (entry && entry.fingerprint === fingerprint && now - entry.at < this.refreshMs) {
      this.checked.set(person, entry.at);
      return;
    }
    if (this.written.size >= MAX_ENTRIES) this.written.clear();
    const mine = { fingerprint, at: now };
    this.written.set(key, mine);
    this.checked.set(person, now);
    void this.state
      .notePerson({
        tenant: person.tenant,
        sub: person.sub,
        ...(person.username !== undefined ? { username: person.username } : {}),
        ...(person.email !== undefined ? { email: person.email } : {}),
        displayName: person.displayName,
        groups: person.groups,
        firstSeen: now,
        lastSeen: now,
      })
      .catch(() => {
        // the store is down or busy: try again with this person's next request
        if (this.written.get(key) === mine) this.written.delete(key);
        if (this.checked.get(person) === now) this.checked.delete(person);
      });
  }
}
