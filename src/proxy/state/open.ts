/**
 * Opens the state store a `--state` URL names: `sqlite:/var/lib/agent-runner/state.db`,
 * `sqlite::memory:` (tests), `redis://host:6379/0` or `rediss://…` (TLS). Redis is wrapped in
 * the chosen failure policy. With `spool`, writes that fail after the answer was sent (Redis down,
 * SQLite busy) are kept in a local spool (spool.ts) and replayed: SQLite is then wrapped too,
 * fail-closed (an in-memory store has nothing to lose and gets none).
 */
import { createHash } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { RedisState, type RedisStateOptions } from "./redis.ts";
import { type FailurePolicy, type ResilienceHooks, ResilientState } from "./resilient.ts";
import { Spool, SpoolError, type SpoolHooks } from "./spool.ts";
import { SqliteState } from "./sqlite.ts";
import { type GatewayState, StateError } from "./types.ts";

export interface OpenedState extends GatewayState {
  /** For /readyz. */
  ready(): boolean;
  /** The directory this store's failed writes are spooled to; absent when there is no spool. */
  readonly spoolDir?: string;
}

export interface OpenStateOptions {
  /** Default "closed": with Redis down, budgets and revocations cannot be enforced, so requests are refused. */
  onRedisDown?: FailurePolicy;
  hooks?: ResilienceHooks;
  redis?: RedisStateOptions;
  /** Keep failed usage writes in a local spool. */
  spool?: {
    /** `--spool-dir`: must be usable (else STATE_SPOOL). Default: see defaultSpoolBase. */
    dir?: string;
    hooks?: SpoolHooks;
    /** The default directory could not be used: the store runs without a spool. */
    onUnavailable?(message: string): void;
    /** For tests: faster probes and scans. */
    probeMs?: number;
    scanMs?: number;
  };
}

/**
 * Where spools live when `--spool-dir` is not given: beside the SQLite file; for Redis,
 * `$XDG_STATE_HOME/agent-runner/spool`, else `/var/lib/agent-runner/spool` when writable,
 * else `~/.local/state/agent-runner/spool`.
 */
export function defaultSpoolBase(sqlitePath: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (sqlitePath) return join(dirname(resolve(sqlitePath)), "spool");
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "agent-runner", "spool");
  try {
    accessSync("/var/lib/agent-runner", constants.W_OK);
    return "/var/lib/agent-runner/spool";
  } catch {
    return join(homedir(), ".local", "state", "agent-runner", "spool");
  }
}

/** One subdirectory per store, so a spool is never replayed into another store. */
export function spoolDirFor(base: string, store: string): string {
  const kind = store.startsWith("redis") ? "redis" : "sqlite";
  return join(base, `${kind}-${createHash("sha256").update(store).digest("hex").slice(0, 12)}`);
}

function openSpool(identity: string, sqlitePath: string | undefined, options: NonNullable<OpenStateOptions["spool"]>): Spool | undefined {
  const dir = spoolDirFor(options.dir ?? defaultSpoolBase(sqlitePath), identity);
  try {
    return Spool.open(dir, options.hooks ? { hooks: options.hooks } : {});
  } catch (e) {
    if (!(e instanceof SpoolError)) throw e;
    if (options.dir !== undefined) throw new StateError("STATE_SPOOL", `--spool-dir ${options.dir}: ${e.message}`, { cause: e });
    options.onUnavailable?.(`${e.message}; running without a spool (a write that fails now is only in the log)`);
    return undefined;
  }
}

function resilience(policy: FailurePolicy, spool: Spool | undefined, options: OpenStateOptions) {
  return {
    policy,
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(spool ? { spool } : {}),
    ...(options.spool?.probeMs !== undefined ? { probeMs: options.spool.probeMs } : {}),
    ...(options.spool?.scanMs !== undefined ? { scanMs: options.spool.scanMs } : {}),
  };
}

export const DEFAULT_STATE_URL = "sqlite::memory:";

/** A state URL without its credentials, for messages and logs (greedy: a password may hold an unencoded `@`). */
export const shownStateUrl = (url: string) => url.replace(/\/\/[^/]*@/, "//***@");

/** What a `--state` URL names, checked; throws StateError (STATE_URL) saying what a valid one looks like. */
export type StateLocation = { kind: "sqlite"; path: string } | { kind: "redis"; url: string; parsed: URL };

export function parseStateUrl(url: string): StateLocation {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (!path) throw new StateError("STATE_URL", `--state ${shownStateUrl(url)}: name a database file, e.g. sqlite:/var/lib/agent-runner/state.db, or sqlite::memory:`);
    return { kind: "sqlite", path };
  }
  if (url.startsWith("redis://") || url.startsWith("rediss://")) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (e) {
      throw new StateError("STATE_URL", `--state ${shownStateUrl(url)}: not a valid Redis URL (redis://host:6379/0)`, { cause: e });
    }
    if (parsed.pathname.length > 1 && !/^\/\d+$/.test(parsed.pathname)) throw new StateError("STATE_URL", `--state ${shownStateUrl(url)}: the path must be a database number, e.g. /0`);
    return { kind: "redis", url, parsed };
  }
  throw new StateError("STATE_URL", `--state ${shownStateUrl(url)}: use sqlite:/path/state.db, sqlite::memory: or redis://host:6379/0`);
}

export function openState(url: string, options: OpenStateOptions = {}): OpenedState {
  const location = parseStateUrl(url);
  if (location.kind === "sqlite") {
    const { path } = location;
    const sqlite = new SqliteState(path);
    const spool = options.spool && path !== ":memory:" ? openSpool(`sqlite:${resolve(path)}`, path, options.spool) : undefined;
    if (!spool) return Object.assign(sqlite, { ready: () => true });
    // one host's file: nothing to serve from meanwhile, so a busy database refuses (503) and spools usage
    return new ResilientState(sqlite, resilience("closed", spool, options));
  }
  const { parsed } = location;
  const spool = options.spool ? openSpool(`redis://${parsed.host}${parsed.pathname.length > 1 ? parsed.pathname : "/0"}`, undefined, options.spool) : undefined;
  return new ResilientState(new RedisState(url, options.redis), resilience(options.onRedisDown ?? "closed", spool, options));
}
