/**
 * The side effects of the gateway commands (`admin …`, `usage`, logout's end-of-session call),
 * as one narrow port of the CommandContext: the HTTP transport, the status line's cache file, and
 * the admin key file. The factory wires the real ones (loaded on demand); unit tests use
 * `memoryGatewayPort` below.
 */
import type { AdminKey } from "./admin-key.ts";
import type { GatewayHttp } from "./client.ts";
import type { StatusLineCacheFile } from "./status-line.ts";

export interface GatewayPort {
  /** Bounded in size and time, with this CLI's User-Agent, no redirects followed (client.ts). */
  http: GatewayHttp;
  /** The status line's cache of a profile: a private file (0600) under the state dir, written atomically. */
  statusLineCache(profile: string): StatusLineCacheFile;
  /** Reads and checks --admin-key-file (GatewayError `admin_key_file`, exit 5). */
  readAdminKey(path: string): AdminKey;
}

/** For unit tests: a transport that fails unless given, a cache in memory, key files from a map. */
export function memoryGatewayPort(options: { http?: GatewayHttp; keyFiles?: Record<string, string>; cache?: Map<string, string> } = {}): GatewayPort & { cache: Map<string, string> } {
  const cache = options.cache ?? new Map<string, string>();
  return {
    cache,
    http: options.http ?? (async (url) => Promise.reject(new Error(`unexpected gateway request to ${url}`))),
    statusLineCache: (profile) => ({ read: async () => cache.get(profile) ?? null, write: async (text) => void cache.set(profile, text) }),
    readAdminKey: (path) => {
      const { readAdminKeyFile } = require("./admin-key.ts") as typeof import("./admin-key.ts");
      return readAdminKeyFile(path, (p) => {
        const text = options.keyFiles?.[p];
        if (text === undefined) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
        return text;
      });
    },
  };
}

/** The status line's cache file of a profile (private state, like the locks). */
export function statusLineCachePath(stateDir: string, profile: string, join: (...parts: string[]) => string): string {
  return join(stateDir, "status-line", `${profile}.json`);
}

/** The real port; each module is loaded when first used (the factory builds this for every command). */
export function nodeGatewayPort(): GatewayPort {
  return {
    http: async (url, init, bounds) => {
      const { boundedFetch } = await import("../oauth/bounded-fetch.ts");
      const { USER_AGENT } = await import("../oauth/client.ts");
      return boundedFetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), "user-agent": USER_AGENT } }, bounds);
    },
    statusLineCache: (profile) => {
      const { joinPath, stateDir } = require("../paths.ts") as typeof import("../paths.ts");
      const path = statusLineCachePath(stateDir(), profile, joinPath);
      return {
        read: async () => (await import("../fs-atomic.ts")).readRegularFile(path)?.text ?? null,
        write: async (text) => (await import("../fs-atomic.ts")).writeFileAtomic(path, text, { mode: 0o600 }),
      };
    },
    readAdminKey: (path) => (require("./admin-key.ts") as typeof import("./admin-key.ts")).readAdminKeyFile(path),
  };
}
