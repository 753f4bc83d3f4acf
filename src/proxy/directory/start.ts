/**
 * One tenant's offboarding from the directory, wired to the gateway: the revalidator asks the
 * issuer's userInfo (the endpoint from the discovery cache the e-mail lookup keeps), a 401
 * denylists the session in the state store (every replica refuses it once its denylist cache
 * turns, within a second) with `reason: "issuer"`, an audit row, a log line and the counter;
 * one check per session per interval across replicas through the store's claims.
 */
import type { AuditLog } from "../audit/audit-log.ts";
import type { DenylistCheck } from "../auth/denylist.ts";
import type { EmailResolver } from "../auth/userinfo.ts";
import { CLOCK_SKEW_SECONDS } from "../auth/verify.ts";
import type { TenantConfig } from "../config.ts";
import type { GatewayState } from "../state/types.ts";
import { logEvent } from "../telemetry/log.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { DEFAULT_REVALIDATE_SECONDS, Revalidator, type Revocation } from "./revalidator.ts";

export interface DirectoryDeps {
  state: GatewayState;
  denylist: DenylistCheck;
  /** The discovery cache (and e-mail cache) of userInfo. */
  userInfo: EmailResolver;
  audit: AuditLog;
  metrics: Metrics;
  fetch: typeof fetch;
  claimant: string;
}

/** The tenant's revalidator, started; none when its revalidateSeconds is 0. */
export function startRevalidator(tenant: TenantConfig, deps: DirectoryDeps): Revalidator | undefined {
  const seconds = tenant.revalidateSeconds ?? DEFAULT_REVALIDATE_SECONDS;
  if (seconds === 0) return undefined;
  const checks = deps.metrics.directoryChecks;
  return new Revalidator({
    fetch: (url, init) => deps.fetch(url, init),
    userInfoEndpoint: (issuer) => deps.userInfo.endpointOf(issuer),
    onUserInfo: (issuer, sub, body) => deps.userInfo.learn(issuer, sub, body),
    revoke: (r) => revokeSession(tenant, r, deps),
    log: (level, message, fields) => logEvent(level, message, { tenant: tenant.slug, ...fields }),
    checks: { inc: ({ result }) => checks.inc({ tenant: tenant.slug, result }) },
    now: Date.now,
    intervalMs: seconds * 1000,
    claims: { store: deps.state, claimant: deps.claimant },
  }).start();
}

async function revokeSession(tenant: TenantConfig, r: Revocation, deps: DirectoryDeps): Promise<void> {
  // another replica that also saw this session may have revoked it at an earlier interval: one row
  const already = await deps.state.isRevoked(tenant.slug, { origin_jti: r.sessionId });
  if (already?.kind === "origin_jti") return;
  const at = Date.now();
  // until every token of the session has expired (with the verifier's skew), at least a minute
  const until = Math.max(r.until + CLOCK_SKEW_SECONDS * 1000, at + 60_000);
  await deps.state.revoke({ tenant: tenant.slug, kind: "origin_jti", value: r.sessionId, at, until, by: "directory", reason: "issuer" });
  deps.denylist.forget();
  await deps.audit.record({ tenant: tenant.slug, actor: "directory", action: "directory.revoke", target: `session ${r.sessionId} of ${r.displayName ?? r.sub}`, old: null, new: { kind: "origin_jti", value: r.sessionId, sub: r.sub, reason: "issuer", issuer_said: r.detail, until: new Date(until).toISOString() } });
}
