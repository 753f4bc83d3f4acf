/**
 * The side effects of the gateway commands (`admin …`, `usage`, logout's end-of-session call),
 * as one narrow port of the CommandContext: the HTTP transport, the status line's cache file, and
 * the admin key file. The factory wires the real ones (loaded on demand); unit tests use
 * `memoryGatewayPort` (test/support/fake-context.ts).
 */
import type { TrustSource } from "../config.ts";
import type { TlsTrust } from "../oauth/bounded-fetch.ts";
import type { AdminKey } from "./admin-key.ts";
import type { GatewayHttp } from "./client.ts";
import type { StatusLineCacheFile } from "./status-line.ts";

export interface GatewayPort {
  /**
   * The transport for requests about a profile (its CA bundle trusted, besides --ca-file):
   * bounded in size and time, with this CLI's User-Agent, no redirects followed (client.ts).
   */
  http(trustOf: TrustSource): GatewayHttp;
  /** The status line's cache of a profile: a private file (0600) under the state dir, written atomically. */
  statusLineCache(profile: string): StatusLineCacheFile;
  /** Reads and checks --admin-key-file (GatewayError `admin_key_file`, exit 5). */
  readAdminKey(path: string): AdminKey;
}

/** The status line's cache file of a profile (private state, like the locks). */
export function statusLineCachePath(stateDir: string, profile: string, join: (...parts: string[]) => string): string {
  return join(stateDir, "status-line", `${profile}.json`);
}

/** The real port; each module is loaded when first used (the factory builds this for every command). */
export function nodeGatewayPort(trustOf: (source: TrustSource) => TlsTrust): GatewayPort {
  return {
    http: (source) => async (url, init, bounds) => {
      const { boundedFetch } = await import("../oauth/bounded-fetch.ts");
      const { USER_AGENT } = await import("../oauth/client.ts");
      return boundedFetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), "user-agent": USER_AGENT } }, { ...bounds, trust: trustOf(source) });
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
