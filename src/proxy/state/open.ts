/**
 * Opens the state store a `--state` URL names: `sqlite:/var/lib/agent-runner/state.db`,
 * `sqlite::memory:` (tests), `redis://host:6379/0` or `rediss://…` (TLS). Redis is wrapped in
 * the chosen failure policy; SQLite is local and has none.
 */
import { RedisState, type RedisStateOptions } from "./redis.ts";
import { type FailurePolicy, type ResilienceHooks, ResilientState } from "./resilient.ts";
import { SqliteState } from "./sqlite.ts";
import { type GatewayState, StateError } from "./types.ts";

export interface OpenedState extends GatewayState {
  /** For /readyz. */
  ready(): boolean;
}

export interface OpenStateOptions {
  /** Default "closed": with Redis down, budgets and revocations cannot be enforced, so requests are refused. */
  onRedisDown?: FailurePolicy;
  hooks?: ResilienceHooks;
  redis?: RedisStateOptions;
}

export const DEFAULT_STATE_URL = "sqlite::memory:";

/** The URL without a password, for messages. */
const shown = (url: string) => url.replace(/\/\/[^@/]*@/, "//***@");

export function openState(url: string, options: OpenStateOptions = {}): OpenedState {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (!path) throw new StateError("STATE_URL", `--state ${shown(url)}: name a database file, e.g. sqlite:/var/lib/agent-runner/state.db, or sqlite::memory:`);
    return Object.assign(new SqliteState(path), { ready: () => true });
  }
  if (url.startsWith("redis://") || url.startsWith("rediss://")) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (e) {
      throw new StateError("STATE_URL", `--state ${shown(url)}: not a valid Redis URL (redis://host:6379/0)`, { cause: e });
    }
    if (parsed.pathname.length > 1 && !/^\/\d+$/.test(parsed.pathname)) throw new StateError("STATE_URL", `--state ${shown(url)}: the path must be a database number, e.g. /0`);
    return new ResilientState(new RedisState(url, options.redis), { policy: options.onRedisDown ?? "closed", ...(options.hooks ? { hooks: options.hooks } : {}) });
  }
  throw new StateError("STATE_URL", `--state ${shown(url)}: use sqlite:/path/state.db, sqlite::memory: or redis://host:6379/0`);
}
