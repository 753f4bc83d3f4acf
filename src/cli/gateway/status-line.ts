/**
 * `agent-runner-auth usage --status-line`: the one line Claude Code's `statusLine` command shows.
 *
 * Claude Code runs the command after each assistant message (at most every 300 ms), pipes a JSON
 * description of the session on stdin and shows the first line of stdout. Hitting the proxy on
 * every render would be slow and a load on the gateway, so the answer is cached in a small private
 * file per profile:
 *  - fresh for `ttlMs` (60 s): rendered from the file, no network, no token;
 *  - older: one process takes a short lease (written into the file) and asks the gateway with a
 *    short deadline; concurrent renders meanwhile show the cached line instead of asking too;
 *  - after a failure, no new attempt for `retryAfterFailureMs` (30 s), the old figures shown with
 *    "(as of HH:MM)" while they are younger than `maxStaleMs` (30 min), else a short word on why.
 * It never throws and never prompts: a status line must not break the UI.
 */
import type { GatewayErrorCode } from "./errors.ts";
import { GatewayError } from "./errors.ts";
import { myUsageToWire, parseMyUsage, type MyUsage } from "../../shared/gateway-api.ts";
import { statusLineFor } from "./usage-view.ts";

/** The cache file, as the command layer opens it (private file in the state dir, written atomically). */
export interface StatusLineCacheFile {
  read(): Promise<string | null>;
  write(text: string): Promise<void>;
}

export interface StatusLineDeps {
  now(): number;
  cache: StatusLineCacheFile;
  /** The caller's usage from the gateway (token provider + client.myUsage with a short deadline). */
  fetchUsage(): Promise<MyUsage>;
  /** The profile's tenant: a cache written for another tenant is ignored. */
  tenantUrl: string;
  /** The command that signs in, for the line shown without a usable session. */
  loginCommand?: string;
  ttlMs?: number;
  retryAfterFailureMs?: number;
  maxStaleMs?: number;
  leaseMs?: number;
}

export const STATUS_LINE_TTL_MS = 60_000;
export const STATUS_LINE_RETRY_MS = 30_000;
export const STATUS_LINE_MAX_STALE_MS = 30 * 60_000;
export const STATUS_LINE_LEASE_MS = 5_000;
/** What fetchUsage should allow the gateway: the line is redrawn often; better stale than slow. */
export const STATUS_LINE_FETCH_TIMEOUT_MS = 2_000;

interface CacheDoc {
  v: 1;
  tenant: string;
  fetchedAt?: number;
  usage?: MyUsage;
  /** Last attempt (a lease while it runs, then the back-off after a failure). */
  attemptAt?: number;
  error?: GatewayErrorCode;
}

export function parseCache(text: string | null, tenant: string): CacheDoc {
  const empty: CacheDoc = { v: 1, tenant };
  if (text === null) return empty;
  try {
    const doc = JSON.parse(text) as Partial<CacheDoc>;
    if (doc?.v !== 1 || doc.tenant !== tenant) return empty;
    const usage = doc.usage !== undefined ? parseMyUsage(doc.usage) : undefined;
    const fetchedAt = typeof doc.fetchedAt === "number" ? doc.fetchedAt : undefined;
    const attemptAt = typeof doc.attemptAt === "number" ? doc.attemptAt : undefined;
    return { v: 1, tenant, ...(usage && fetchedAt !== undefined ? { usage, fetchedAt } : {}), ...(attemptAt !== undefined ? { attemptAt } : {}), ...(typeof doc.error === "string" ? { error: doc.error as GatewayErrorCode } : {}) };
  } catch {
    return empty; // a torn or foreign file is just a miss
  }
}

const hhmm = (t: number) => `${new Date(t).toISOString().slice(11, 16)} UTC`;

function withoutData(error: GatewayErrorCode | undefined, loginCommand: string): string {
  if (error === "unauthenticated") return `gateway: not signed in (${loginCommand})`;
  if (error === "no_gateway_api") return "gateway: no usage endpoint on this tenant";
  if (error === undefined) return "gateway: usage loading…";
  return "gateway: usage unavailable";
}

function render(doc: CacheDoc, now: number, o: Required<Pick<StatusLineDeps, "ttlMs" | "maxStaleMs">> & { loginCommand: string }): string {
  if (doc.usage && doc.fetchedAt !== undefined) {
    const age = now - doc.fetchedAt;
    if (age < o.ttlMs) return statusLineFor(doc.usage);
    // a revoked or signed-out session must not keep showing figures as if all were well
    if (age < o.maxStaleMs && doc.error !== "unauthenticated") return statusLineFor(doc.usage, `(as of ${hhmm(doc.fetchedAt)})`);
  }
  return withoutData(doc.error, o.loginCommand);
}

async function save(cache: StatusLineCacheFile, doc: CacheDoc): Promise<void> {
  try {
    await cache.write(JSON.stringify(doc.usage ? { ...doc, usage: myUsageToWire(doc.usage) } : doc));
  } catch {
    // an unwritable cache costs a request per render, never the line itself
  }
}

export async function statusLineText(deps: StatusLineDeps): Promise<string> {
  const o = {
    ttlMs: deps.ttlMs ?? STATUS_LINE_TTL_MS,
    maxStaleMs: deps.maxStaleMs ?? STATUS_LINE_MAX_STALE_MS,
    loginCommand: deps.loginCommand ?? "agent-runner-auth login",
  };
  const retryMs = deps.retryAfterFailureMs ?? STATUS_LINE_RETRY_MS;
  const leaseMs = deps.leaseMs ?? STATUS_LINE_LEASE_MS;
  const now = deps.now();
  let doc: CacheDoc;
  try {
    doc = parseCache(await deps.cache.read(), deps.tenantUrl);
  } catch {
    doc = { v: 1, tenant: deps.tenantUrl };
  }
  const fresh = doc.usage !== undefined && doc.fetchedAt !== undefined && now - doc.fetchedAt < o.ttlMs;
  const waiting = doc.attemptAt !== undefined && now - doc.attemptAt < (doc.error ? retryMs : leaseMs) && doc.attemptAt <= now;
  if (fresh || waiting) return render(doc, now, o);

  await save(deps.cache, { ...doc, attemptAt: now, error: undefined });
  try {
    const usage = await deps.fetchUsage();
    const done: CacheDoc = { v: 1, tenant: deps.tenantUrl, fetchedAt: deps.now(), usage };
    await save(deps.cache, done);
    return render(done, deps.now(), o);
  } catch (e) {
    const failed: CacheDoc = { ...doc, attemptAt: deps.now(), error: e instanceof GatewayError ? e.code : "unreachable" };
    await save(deps.cache, failed);
    return render(failed, deps.now(), o);
  }
}
