/**
 * Gateway state in Redis, shared by every replica. Each read-modify-write is one Lua script
 * (redis-scripts.ts); keys are `<prefix>:{<tenant>}:...` (the braces keep a tenant's keys in one
 * cluster slot); windows, reservations, counters and denylist entries carry TTLs. Uses Bun's
 * built-in client (EVALSHA through `send`), offline queue off: a command while disconnected
 * fails at once and the caller decides (fail-open or fail-closed) instead of piling up.
 */
import { BoundedRedis, type Reply } from "./bounded-redis.ts";
import { budgetCounter, budgetStatus, counterKey, countersFor, type CounterValue, fits, RESERVATION_TTL_MS, recordCounters, type Budget, type BudgetStatus, type BudgetUnit, type CounterRef, type Estimate, type Reservation, type ReserveResult } from "../model/budgets.ts";
import { dayKey, daysBetween, type Period } from "../model/periods.ts";
import { matchedBy, normaliseUserId, type Person, type SeenPerson, type TokenIdentity, type UserKind } from "../model/person.ts";
import { admits, describeWindows, WINDOW_MS, windowStart, windowsFor, type WindowCounts, type WindowSpec, type RateDecision, type RateLimit } from "../model/rate-windows.ts";
import { identityKeys, revocationValue, type Revocation, type RevocationKind } from "../model/revocations.ts";
import type { Subject } from "../model/subjects.ts";
import { tokensOf, type UsageQuery, type UsageRecord, type UsageRow } from "../model/usage.ts";
import { createHash } from "node:crypto";
import { DAY_MS, DEFAULT_AUDIT_LIMIT, DEFAULT_AUDIT_RETENTION_DAYS, type AuditEntry, type AuditQuery } from "../model/audit.ts";
import { checkAudit, checkBudget, checkLimit, checkQuery, checkRecord, checkRevocation, checkSeenPerson, checkSubject, groupsOf } from "./checks.ts";
import { type AdmitOptions, type GatewayState, type ReserveOptions, StateError, StateUnavailable, type UsageWrite, withExtra } from "./types.ts";
import { RedisRollups } from "../rollup/redis.ts";
import { RollupError, type UsageRollups } from "../rollup/types.ts";
import { ADMIT, APPEND_AUDIT, CHARGE, CLAIM_ONCE, NOTE_PERSON, RELEASE, RESERVE, SETTLE } from "./redis-scripts.ts";

const COUNTER_TTL_MS = 70 * 86_400_000;
const SEEN_TTL_MS = 40 * 86_400_000;
/** People not seen for this long are forgotten. */
const PERSON_TTL_MS = 400 * 86_400_000;
/**
 * Ledger entries counted per step of the roll-ups' backfill (one script of up to ~4,000 cells: tens
 * of ms of the server, which every replica shares), and how long its claim lasts without a step.
 */
const BACKFILL_CHUNK = 250;
const BACKFILL_CLAIM_MS = 60_000;
/** Keys repeat (tenants, people, models, days): their encoded parts are kept, up to a bound. */
const encoded = new Map<string, string>();
function enc(part: string): string {
  let e = encoded.get(part);
  if (e === undefined) {
    if (encoded.size >= 10_000) encoded.clear();
    encoded.set(part, (e = encodeURIComponent(part)));
  }
  return e;
}

export interface RedisStateOptions {
  /** Key prefix, default "ara". */
  prefix?: string;
  /** Per-command bound; a store that does not answer in time is unavailable. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** Where the usage roll-ups are written and read; default the same server and prefix (tests hand in another server to fail it alone). */
  rollups?: RedisRollups;
}


/** How the state store's Redis client names its failures: StateUnavailable, or STATE_CORRUPT when refused. */
const STATE_REDIS_ERRORS = {
  unavailable: (message: string, options?: { cause?: unknown }) => new StateUnavailable(message, options),
  refused: (message: string, options: { cause: unknown }) => new StateError("STATE_CORRUPT", message, options),
  isOwn: (e: unknown) => e instanceof StateError,
  isRefused: (e: unknown) => e instanceof StateError && e.code === "STATE_CORRUPT",
};

export class RedisState implements GatewayState {
  private readonly redis: BoundedRedis;
  private readonly prefix: string;
  private readonly rollupWriter: RedisRollups;
  /** The usage roll-ups of this store (the console's reader): same server, same key prefix. */
  readonly rollups: UsageRollups;
  /** Per tenant: the roll-ups' start marked in the ledger (rollupsLive), and the backfill this process started. */
  private readonly live = new Map<string, Promise<unknown>>();
  private readonly backfills = new Map<string, Promise<number>>();
  private closed = false;

  constructor(
    url: string,
    options: RedisStateOptions = {},
  ) {
    this.prefix = options.prefix ?? "ara";
    this.redis = new BoundedRedis(url, options.commandTimeoutMs ?? 2000, STATE_REDIS_ERRORS);
    this.rollups = this.rollupWriter = options.rollups ?? new RedisRollups(url, { prefix: this.prefix, commandTimeoutMs: options.commandTimeoutMs ?? 2000 });
  }

  /** One command, bounded in time; connection trouble becomes StateUnavailable. */
  private send(command: string, args: string[]): Promise<Reply> {
    return this.redis.send(command, args);
  }

  private async script(source: string, keys: string[], args: (string | number)[]): Promise<Reply[]> {
    return (await this.redis.script(source, keys, args)) as Reply[];
  }

  private key(tenant: string, ...parts: string[]): string {
    return `${this.prefix}:{${enc(tenant)}}:${parts.join(":")}`;
  }
  private counterKey = (tenant: string, c: CounterRef) => this.key(tenant, "ctr", enc(counterKey(c)));
  private windowKey = (tenant: string, s: Subject, start: number) => this.key(tenant, "rl", enc(`${s.kind}:${s.id}`), String(start));
  private denyKey = (tenant: string, kind: RevocationKind, value: string) => this.key(tenant, "deny", kind, enc(value));

  // ---- budgets

  async reserve(person: Person, estimate: Estimate, options: ReserveOptions = {}): Promise<ReserveResult> {
    const now = options.now ?? Date.now();
    const budgets = withExtra(await this.listBudgets(person.tenant), options.extraBudgets);
    const counters = countersFor(person, now);
    const index = new Map(counters.map((c, i) => [counterKey(c), i]));
    const hard = counters.map(() => ({ usd: -1, tok: -1 }));
    const applying = budgets.flatMap((budget) => {
      const ref = budgetCounter(budget, person, now);
      if (!ref) return [];
      const i = index.get(counterKey(ref)) as number;
      const h = hard[i] as { usd: number; tok: number };
      if (!budget.soft && budget.unit === "usd") h.usd = h.usd < 0 ? budget.limit : Math.min(h.usd, budget.limit);
      if (!budget.soft && budget.unit === "tokens") h.tok = h.tok < 0 ? budget.limit : Math.min(h.tok, budget.limit);
      return [{ budget, ref, i }];
    });
    const id = crypto.randomUUID();
    const expiresAt = now + (options.ttlMs ?? RESERVATION_TTL_MS);
    const out = (await this.script(
      RESERVE,
      [this.key(person.tenant, "resexp"), this.key(person.tenant, "res", id), ...counters.map((c) => this.counterKey(person.tenant, c))],
      [now, expiresAt, estimate.microUsd, estimate.tokens, this.key(person.tenant, "res", ""), id, COUNTER_TTL_MS, ...hard.flatMap((h) => [h.usd, h.tok])],
    )) as number[];
    const value = (i: number): CounterValue => ({ microUsd: out[2 + 4 * i] as number, tokens: out[3 + 4 * i] as number, heldMicroUsd: out[4 + 4 * i] as number, heldTokens: out[5 + 4 * i] as number });
    if (out[0] !== 1) {
      const statuses = applying.map((a) => budgetStatus(a.budget, value(a.i), a.ref.periodKey));
      const refused = applying.find((a) => !a.budget.soft && !fits(a.budget, value(a.i), estimate)) ?? applying[0];
      if (!refused) throw new StateError("STATE_CORRUPT", "Redis refused a reservation no budget explains");
      return { ok: false, refusedBy: budgetStatus(refused.budget, value(refused.i), refused.ref.periodKey), statuses };
    }
    const after = (i: number): CounterValue => {
      const v = value(i);
      return { microUsd: v.microUsd + estimate.microUsd, tokens: v.tokens + estimate.tokens, heldMicroUsd: (v.heldMicroUsd ?? 0) + estimate.microUsd, heldTokens: (v.heldTokens ?? 0) + estimate.tokens };
    };
    const statuses = applying.map((a) => budgetStatus(a.budget, after(a.i), a.ref.periodKey));
    return { ok: true, reservation: { id, tenant: person.tenant, estimate, counters, expiresAt }, statuses, warnings: statuses.filter((s) => s.budget.soft && s.used > s.budget.limit) };
  }

  async settle(reservation: Reservation, record: UsageRecord): Promise<void> {
    await this.writeRecord(record, reservation.id);
  }

  async recordUsage(record: UsageRecord): Promise<void> {
    await this.writeRecord(record, undefined);
  }

  /** The records of one tenant in one script call; releases beside them (Bun's client pipelines what is sent in one tick). */
  async writeUsage(writes: readonly UsageWrite[]): Promise<void> {
    const byTenant = new Map<string, { record: UsageRecord; reservationId: string | undefined }[]>();
    const sent: Promise<unknown>[] = [];
    for (const w of writes) {
      if (w.kind === "release") {
        sent.push(this.release(w.reservation));
        continue;
      }
      checkRecord(w.record);
      const list = byTenant.get(w.record.tenant) ?? [];
      list.push({ record: w.record, reservationId: w.kind === "settle" ? w.reservation.id : undefined });
      byTenant.set(w.record.tenant, list);
    }
    for (const records of byTenant.values()) sent.push(this.writeRecords(records));
    await Promise.all(sent);
  }

  private async writeRecord(r: UsageRecord, reservationId: string | undefined): Promise<void> {
    checkRecord(r);
    await this.writeRecords([{ record: r, reservationId }]);
  }

  /** Records of one tenant (their keys share one cluster slot): one SETTLE call. */
  private async writeRecords(records: { record: UsageRecord; reservationId: string | undefined }[]): Promise<void> {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const { record: r, reservationId } of records) {
      const t = r.tenant;
      const day = dayKey(r.time);
      const groups = r.groups.length ? [...new Set(r.groups)] : [""];
      const agg = [["user", r.sub], ["model", r.model], ["day", day], ["upstream", r.upstream ?? ""], ...groups.map((g) => ["group", g])].map(([dim, v]) => this.key(t, "agg", day, dim as string, enc(v as string)));
      const resId = reservationId ?? `none-${r.requestId}`;
      const own = [this.key(t, "resexp"), this.key(t, "res", resId), this.key(t, "seen", enc(r.requestId)), this.key(t, "ledger"), this.key(t, "aggidx", day), ...agg, ...recordCounters(r).map((c) => this.counterKey(t, c))];
      const ownArgs = [
        resId, SEEN_TTL_MS, agg.length, r.costMicroUsd ?? 0, tokensOf(r), JSON.stringify(r), COUNTER_TTL_MS, r.displayName,
        r.inputTokens, r.outputTokens, r.cacheCreationInputTokens, r.cacheCreation5mInputTokens, r.cacheCreation1hInputTokens, r.cacheReadInputTokens, r.webSearchRequests, r.costMicroUsd ?? 0, r.costMicroUsd === null ? 1 : 0,
      ];
      keys.push(...own);
      args.push(own.length, ownArgs.length, ...ownArgs);
    }
    const tenant = (records[0] as { record: UsageRecord }).record.tenant;
    // before this process's first record of the tenant goes into the ledger: where the backfill stops
    await this.rollupsLive(tenant);
    await this.script(SETTLE, keys, args);
    await this.countRollups(records.map((r) => r.record));
  }

  /**
   * After the ledger took them: the records in the roll-ups. Every record of the call, not only
   * the ones the ledger found new: the roll-ups' own request-id markers leave out what they
   * counted before. If the roll-ups cannot be written, the call fails as unavailable, so the
   * state wrapper spools the writes and replays them: the ledger then finds them recorded, the
   * roll-ups count the rest, and no record is lost or counted twice.
   */
  private async countRollups(records: readonly UsageRecord[]): Promise<void> {
    try {
      await this.rollupWriter.add(records);
    } catch (e) {
      throw rollupFailure(e);
    }
  }

  /**
   * Once per tenant and process, before its first usage write: marks where in the ledger's stream
   * the roll-ups start being written (the stream's last entry, set by the first process of this
   * version and kept), then starts the backfill of what lies before it in the background.
   */
  private rollupsLive(tenant: string): Promise<unknown> {
    let live = this.live.get(tenant);
    if (!live) {
      live = (async () => {
        const last = streamEntries(await this.send("XREVRANGE", [this.key(tenant, "ledger"), "+", "-", "COUNT", "1"]))[0]?.id ?? "0-0";
        await this.send("HSETNX", [this.key(tenant, "ru", "backfill"), "upto", last]);
        // a failure (Redis down) is tried again by this process at the tenant's next write
        this.backfills.set(tenant, this.backfillRollups(tenant).catch(() => (this.live.delete(tenant), 0)));
      })();
      // not marked: the next write tries again (and fails as unavailable meanwhile)
      live.catch(() => this.live.delete(tenant));
      this.live.set(tenant, live);
    }
    return live;
  }

  /**
   * Counts into the roll-ups, once, the records the tenant's ledger (its stream, up to the last
   * 5 million) held before the roll-ups were written with it: the entries up to the mark
   * `rollupsLive` left. One replica at a time (a claim), in chunks of {@link BACKFILL_CHUNK}, each
   * chunk counted under one marker set with its cells (a chunk repeated after a crash counts
   * nothing), a cursor, then marked done for good. Returns how many records it counted.
   */
  async backfillRollups(tenant: string): Promise<number> {
    const meta = this.key(tenant, "ru", "backfill");
    const [upto, done, from] = (await this.send("HMGET", [meta, "upto", "done", "cursor"])) as (string | null)[];
    if (done || !upto) return 0;
    const claim = this.key(tenant, "ru", "backfill-claim");
    const claimant = crypto.randomUUID();
    if ((await this.send("SET", [claim, claimant, "NX", "PX", String(BACKFILL_CLAIM_MS)])) === null) {
      // another replica runs it: looked at again at the tenant's first write after its claim would lapse (it may die)
      setTimeout(() => this.live.delete(tenant), BACKFILL_CLAIM_MS).unref?.();
      return 0;
    }
    const ledger = this.key(tenant, "ledger");
    let cursor = from ?? null;
    let counted = 0;
    try {
      while (!this.closed) {
        const entries = upto === "0-0" ? [] : streamEntries(await this.send("XRANGE", [ledger, cursor === null ? "-" : `(${cursor}`, upto, "COUNT", String(BACKFILL_CHUNK)]));
        if (entries.length === 0) {
          await this.send("HSET", [meta, "done", new Date().toISOString()]);
          break;
        }
        const records = entries.flatMap((e) => (e.record && e.record.tenant === tenant ? [e.record] : []));
        try {
          if (await this.rollupWriter.addBatchOnce(tenant, `backfill:${(entries[0] as StreamEntry).id}`, records)) counted += records.length;
        } catch (e) {
          throw rollupFailure(e);
        }
        cursor = (entries.at(-1) as StreamEntry).id;
        await this.send("HSET", [meta, "cursor", cursor]);
        await this.send("PEXPIRE", [claim, String(BACKFILL_CLAIM_MS)]);
      }
    } finally {
      if ((await this.send("GET", [claim]).catch(() => null)) === claimant) await this.send("DEL", [claim]).catch(() => {});
    }
    return counted;
  }

  /** For tests and shutdown: the backfills this process started, finished. */
  async backfillsSettled(): Promise<void> {
    await Promise.all(this.backfills.values());
  }

  async release(reservation: Reservation): Promise<void> {
    await this.script(RELEASE, [this.key(reservation.tenant, "resexp"), this.key(reservation.tenant, "res", reservation.id)], [reservation.id, Date.now(), this.key(reservation.tenant, "res", "")]);
  }

  async budgetStatus(person: Person, now = Date.now(), extraBudgets?: readonly Budget[]): Promise<BudgetStatus[]> {
    // purge expired reservations first, as reserve does, so the figures are the same
    await this.script(RELEASE, [this.key(person.tenant, "resexp"), this.key(person.tenant, "res", "-")], ["-", now, this.key(person.tenant, "res", "")]);
    const budgets = withExtra(await this.listBudgets(person.tenant), extraBudgets);
    return Promise.all(
      budgets.flatMap((budget) => {
        const ref = budgetCounter(budget, person, now);
        if (!ref) return [];
        return [
          this.send("HMGET", [this.counterKey(person.tenant, ref), "usd", "tok", "husd", "htok"]).then((v) => {
            const [usd, tok, husd, htok] = (v as Reply[]).map((x) => Number(x ?? 0));
            return budgetStatus(budget, { microUsd: usd ?? 0, tokens: tok ?? 0, heldMicroUsd: husd ?? 0, heldTokens: htok ?? 0 }, ref.periodKey);
          }),
        ];
      }),
    );
  }

  // ---- ledger

  async usageReport(q: UsageQuery): Promise<UsageRow[]> {
    checkQuery(q);
    const days = daysBetween(q.since, q.until);
    const rows = new Map<string, UsageRow & { latest?: string }>();
    await Promise.all(
      days.map(async (day) => {
        let keys: string[];
        if (q.sub) keys = [this.key(q.tenant, "agg", day, "user", enc(q.sub))];
        else {
          const prefix = this.key(q.tenant, "agg", day, q.by === "day" ? "day" : q.by, "");
          keys = ((await this.send("SMEMBERS", [this.key(q.tenant, "aggidx", day)])) as string[]).filter((k) => k.startsWith(prefix));
        }
        for (const k of keys) {
          const flat = (await this.send("HGETALL", [k])) as Reply;
          const h = (Array.isArray(flat) ? Object.fromEntries(flat.flatMap((_, i) => (i % 2 ? [] : [[flat[i], flat[i + 1]]]))) : (flat ?? {})) as Record<string, string | number>;
          if (h.n === undefined) continue;
          const key = q.by === "day" ? day : decodeURIComponent(k.slice(k.lastIndexOf(":") + 1));
          const row = rows.get(key) ?? { key, requests: 0, inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheCreation5mInputTokens: 0, cacheCreation1hInputTokens: 0, cacheReadInputTokens: 0, webSearchRequests: 0, costMicroUsd: 0, unpricedRequests: 0 };
          row.requests += Number(h.n ?? 0);
          row.inputTokens += Number(h.in ?? 0);
          row.outputTokens += Number(h.out ?? 0);
          row.cacheCreationInputTokens += Number(h.cw ?? 0);
          row.cacheCreation5mInputTokens += Number(h.cw5 ?? 0);
          row.cacheCreation1hInputTokens += Number(h.cw1 ?? 0);
          row.cacheReadInputTokens += Number(h.cr ?? 0);
          row.webSearchRequests += Number(h.ws ?? 0);
          row.costMicroUsd += Number(h.cost ?? 0);
          row.unpricedRequests += Number(h.unpriced ?? 0);
          if (q.by === "user" && (row.latest === undefined || day >= row.latest)) [row.latest, row.displayName] = [day, String(h.name)];
          rows.set(key, row);
        }
      }),
    );
    return [...rows.values()].map(({ latest: _, ...row }) => row).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  // ---- rate limits

  private async windowsOf(person: Person, options: AdmitOptions): Promise<WindowSpec[]> {
    return windowsFor(person, withExtra(await this.listLimits(person.tenant), options.extraLimits), options.defaults);
  }

  async admit(person: Person, tokens: number, options: AdmitOptions = {}): Promise<RateDecision> {
    const now = options.now ?? Date.now();
    const specs = await this.windowsOf(person, options);
    if (specs.length === 0) return { allowed: true, windows: [] };
    const start = windowStart(now);
    const fraction = (now - start) / WINDOW_MS;
    const out = (await this.script(
      ADMIT,
      specs.flatMap((s) => [this.windowKey(person.tenant, s.subject, start), this.windowKey(person.tenant, s.subject, start - WINDOW_MS)]),
      [String(fraction), tokens, 3 * WINDOW_MS, now, ...specs.flatMap((s) => [s.rpm ?? -1, s.tpm ?? -1])],
    )) as number[];
    const last = (n: number) => (n >= 0 ? n : undefined);
    const counts: WindowCounts[] = specs.map((_, i) => {
      const [prevRequests, currRequests, prevTokens, currTokens, prevLast, currLast] = out.slice(1 + 6 * i, 7 + 6 * i) as [number, number, number, number, number, number];
      return { prevRequests, currRequests, prevTokens, currTokens, ...(last(prevLast) !== undefined ? { prevLast } : {}), ...(last(currLast) !== undefined ? { currLast } : {}) };
    });
    const allowed = out[0] === 1;
    if (allowed !== specs.every((s, i) => admits(s, counts[i] as WindowCounts, now))) throw new StateError("STATE_CORRUPT", "the Redis rate-limit script and the gateway disagree; redeploy one version");
    return describeWindows(specs, counts, now, tokens, allowed);
  }

  async chargeTokens(person: Person, tokens: number, options: AdmitOptions = {}): Promise<void> {
    const now = options.now ?? Date.now();
    const start = windowStart(now);
    const specs = (await this.windowsOf(person, options)).filter((s) => s.tpm !== undefined);
    if (specs.length === 0) return;
    await this.script(CHARGE, specs.map((s) => this.windowKey(person.tenant, s.subject, start)), [tokens, now, 3 * WINDOW_MS]);
  }

  // ---- denylist

  async revoke(revocation: Revocation): Promise<void> {
    const r = checkRevocation(revocation);
    const member = `${r.kind}:${enc(r.value)}`;
    await this.send("SET", [this.denyKey(r.tenant, r.kind, r.value), JSON.stringify(r), "PXAT", String(Math.max(r.until, Date.now() + 1))]);
    await this.send("ZADD", [this.key(r.tenant, "denyidx"), String(r.until), member]);
    await this.send("ZREMRANGEBYSCORE", [this.key(r.tenant, "denyidx"), "-inf", String(Date.now())]);
  }

  async restore(tenant: string, kind: RevocationKind, value: string): Promise<boolean> {
    const v = revocationValue(kind, value);
    await this.send("ZREM", [this.key(tenant, "denyidx"), `${kind}:${enc(v)}`]);
    return Number(await this.send("DEL", [this.denyKey(tenant, kind, v)])) > 0;
  }

  async isRevoked(tenant: string, identity: TokenIdentity, now = Date.now()): Promise<Revocation | null> {
    const keys = identityKeys(identity);
    if (keys.length === 0) return null;
    const values = (await this.send("MGET", keys.map(([k, v]) => this.denyKey(tenant, k, v)))) as (string | null)[];
    for (const v of values) {
      if (v === null) continue;
      const r = JSON.parse(v) as Revocation;
      if (r.until > now) return r;
    }
    return null;
  }

  async listRevocations(tenant: string, now = Date.now()): Promise<Revocation[]> {
    const members = (await this.send("ZRANGEBYSCORE", [this.key(tenant, "denyidx"), `(${now}`, "+inf"])) as string[];
    if (members.length === 0) return [];
    const values = (await this.send("MGET", members.map((m) => this.key(tenant, "deny", m)))) as (string | null)[];
    return values.flatMap((v) => (v ? [JSON.parse(v) as Revocation] : [])).sort((a, b) => a.at - b.at);
  }

  // ---- people seen

  private personKey = (tenant: string, sub: string) => this.key(tenant, "person", enc(sub));
  private personIndexKey = (tenant: string, id: string) => this.key(tenant, "pidx", enc(normaliseUserId(id)));

  async notePerson(person: SeenPerson): Promise<void> {
    const p = checkSeenPerson(person);
    const ids = new Set([p.sub, p.username, p.email].filter((v): v is string => !!v).map(normaliseUserId));
    await this.script(NOTE_PERSON, [this.personKey(p.tenant, p.sub), ...[...ids].map((id) => this.personIndexKey(p.tenant, id))], [p.sub, p.username ?? "", p.email ?? "", p.displayName, p.lastSeen, PERSON_TTL_MS, p.groups ? JSON.stringify(p.groups) : ""]);
  }

  async findPeople(tenant: string, value: string, kind?: UserKind): Promise<SeenPerson[]> {
    // the index may name people whose identifiers changed since: each is checked against their record
    const subs = ((await this.send("SMEMBERS", [this.personIndexKey(tenant, value)])) as string[]).slice(0, 100);
    const people = await Promise.all(
      subs.map(async (sub) => {
        const flat = (await this.send("HGETALL", [this.personKey(tenant, sub)])) as Reply;
        const h = (Array.isArray(flat) ? Object.fromEntries(flat.flatMap((_, i) => (i % 2 ? [] : [[flat[i], flat[i + 1]]]))) : (flat ?? {})) as Record<string, string>;
        if (h.sub === undefined) return undefined;
        const p: SeenPerson = { tenant, sub: h.sub, ...(h.username ? { username: h.username } : {}), ...(h.email ? { email: h.email } : {}), displayName: h.name ?? h.sub, ...groupsOf(h.groups), firstSeen: Number(h.first ?? 0), lastSeen: Number(h.last ?? 0) };
        const by = matchedBy(p, value);
        return by.length > 0 && (kind === undefined || by.includes(kind)) ? p : undefined;
      }),
    );
    return people.filter((p): p is SeenPerson => p !== undefined).sort((a, b) => b.lastSeen - a.lastSeen);
  }

  // ---- settings

  private async hashValues<T>(key: string): Promise<T[]> {
    const flat = (await this.send("HVALS", [key])) as string[];
    return flat.map((v) => JSON.parse(v) as T);
  }

  /** After a settings change: every replica's cached copy of the settings is stale from now on. */
  private async bumpPolicy(tenant: string): Promise<void> {
    await this.send("INCR", [this.key(tenant, "policyver")]);
  }

  async policyVersion(tenant: string): Promise<string> {
    return String((await this.send("GET", [this.key(tenant, "policyver")])) ?? "0");
  }

  async setBudget(budget: Budget): Promise<void> {
    const b = checkBudget(budget);
    await this.send("HSET", [this.key(b.tenant, "budgets"), `${b.subject.kind}:${enc(b.subject.id)}:${b.period}:${b.unit}`, JSON.stringify(b)]);
    await this.bumpPolicy(b.tenant);
  }

  async clearBudget(tenant: string, subject: Subject, period: Period, unit?: BudgetUnit): Promise<number> {
    const s = checkSubject(subject);
    const fields = (unit ? [unit] : ["usd", "tokens"]).map((u) => `${s.kind}:${enc(s.id)}:${period}:${u}`);
    const cleared = Number(await this.send("HDEL", [this.key(tenant, "budgets"), ...fields]));
    await this.bumpPolicy(tenant);
    return cleared;
  }

  listBudgets(tenant: string): Promise<Budget[]> {
    return this.hashValues<Budget>(this.key(tenant, "budgets"));
  }

  async setLimit(limit: RateLimit): Promise<void> {
    const l = checkLimit(limit);
    await this.send("HSET", [this.key(l.tenant, "limits"), `${l.subject.kind}:${enc(l.subject.id)}`, JSON.stringify(l)]);
    await this.bumpPolicy(l.tenant);
  }

  async clearLimit(tenant: string, subject: Subject): Promise<boolean> {
    const s = checkSubject(subject);
    const cleared = Number(await this.send("HDEL", [this.key(tenant, "limits"), `${s.kind}:${enc(s.id)}`])) > 0;
    await this.bumpPolicy(tenant);
    return cleared;
  }

  listLimits(tenant: string): Promise<RateLimit[]> {
    return this.hashValues<RateLimit>(this.key(tenant, "limits"));
  }

  // ---- coordination and audit

  async claimOnce(key: string, claimant: string, ttlMs: number): Promise<boolean> {
    const hashed = createHash("sha256").update(key).digest("hex");
    const [holder] = await this.script(CLAIM_ONCE, [`${this.prefix}:claim:${hashed}`], [claimant, Math.max(1, Math.round(ttlMs))]);
    return holder === claimant;
  }

  /** A sorted set per tenant scored by time; each member a JSON row with a unique id (so equal rows stay two). */
  async appendAudit(entry: AuditEntry, options: { retentionMs?: number } = {}): Promise<void> {
    const e = checkAudit(entry);
    const retention = options.retentionMs ?? DEFAULT_AUDIT_RETENTION_DAYS * DAY_MS;
    const row = JSON.stringify({ id: crypto.randomUUID(), ...e, old: e.old ?? null, new: e.new ?? null });
    await this.script(APPEND_AUDIT, [this.key(e.tenant, "audit")], [e.time, row, Date.now() - retention]);
  }

  async listAudit(q: AuditQuery): Promise<AuditEntry[]> {
    const members = (await this.send("ZRANGEBYSCORE", [this.key(q.tenant, "audit"), String(q.since ?? 0), "+inf", "LIMIT", "0", String(q.limit ?? DEFAULT_AUDIT_LIMIT)])) as string[];
    return members.map((m) => {
      const { id: _id, ...entry } = JSON.parse(m) as AuditEntry & { id: string };
      return entry;
    });
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.send("PING", [])) === "PONG";
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.backfillsSettled();
    await this.rollupWriter.close();
    this.redis.close();
  }
}

/** A roll-up failure as the state names it: unavailable (spooled and replayed) or refused. */
function rollupFailure(e: unknown): unknown {
  if (!(e instanceof RollupError)) return e;
  if (e.code === "ROLLUP_UNAVAILABLE") return new StateUnavailable(`the usage roll-ups were not written: ${e.message}`, { cause: e });
  return new StateError("STATE_CORRUPT", `the usage roll-ups were not written: ${e.message}`, { cause: e });
}

interface StreamEntry {
  id: string;
  /** The ledger record the entry holds (field `r`), when it parses. */
  record: UsageRecord | undefined;
}

/** XRANGE's reply: [id, [field, value, ...]] per entry (a map of fields under RESP3 in some clients). */
function streamEntries(reply: Reply): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.flatMap((entry) => {
    if (!Array.isArray(entry)) return [];
    const [id, fields] = entry;
    let raw: Reply | undefined;
    if (Array.isArray(fields)) raw = fields.indexOf("r") >= 0 ? fields[fields.indexOf("r") + 1] : undefined;
    else if (fields && typeof fields === "object") raw = (fields as Record<string, Reply>).r;
    let record: UsageRecord | undefined;
    try {
      const parsed = typeof raw === "string" ? (JSON.parse(raw) as UsageRecord) : undefined;
      // what the roll-ups read of it; anything else is not a record this gateway wrote
      record = parsed && typeof parsed.time === "number" && typeof parsed.sub === "string" && typeof parsed.model === "string" && Array.isArray(parsed.groups) ? parsed : undefined;
    } catch {
      record = undefined;
    }
    return [{ id: String(id), record }];
  });
}
