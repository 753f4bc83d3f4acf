/** What the request handlers share: one per proxy instance, and one runtime per tenant. */
import type { PriceTable } from "../accounting/pricing.ts";
import type { TenantAuth } from "../auth/authenticate.ts";
import type { DenylistCheck } from "../auth/denylist.ts";
import type { PeopleSeen } from "../auth/people-seen.ts";
import type { EmailResolver } from "../auth/userinfo.ts";
import type { AuditLog } from "../audit/audit-log.ts";
import type { TenantConfig } from "../config.ts";
import type { Revalidator } from "../directory/revalidator.ts";
import type { BudgetAlerts } from "../alerts/budget-alerts.ts";
import type { PolicyCache } from "../limits/applicable.ts";
import type { RateDefaults } from "../model/rate-windows.ts";
import type { PolicySource } from "../policy/source.ts";
import type { GatewayState } from "../state/types.ts";
import type { UsageBatcher } from "../state/usage-batcher.ts";
import type { LogLine } from "../telemetry/log.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { Pool } from "../upstreams/pool.ts";

export interface TenantRuntime extends TenantAuth {
  config: TenantConfig;
  /** The tenant's upstreams (config.pool, its keys opened): every API request goes through it. */
  pool: Pool;
  discoveryJson: Map<string, string>;
  prices: PriceTable;
  rateDefaults: RateDefaults;
  /** Members of these `cognito:groups` may use the admin API. */
  adminGroups: readonly string[];
  /** The tenant policy (groups to models, budgets, limits), when the tenant has one: take `.current()` once per request. */
  accessPolicy?: PolicySource;
  /** Offboarding from the directory: notes each session seen (identity.ts); none when revalidateSeconds is 0. */
  revalidator?: Revalidator;
  /** Budget alerts, when the tenant has `alerts`. */
  alerts?: BudgetAlerts;
}

/**
 * The client connections' idle limit, lifted while a request is upstream (a long generation may
 * be quiet for minutes) and put back once its answer is over.
 */
export interface ConnectionTimeouts {
  hold(request: Request): void;
  release(request: Request): void;
}

export interface ProxyContext {
  state: GatewayState;
  denylist: DenylistCheck;
  /** The e-mail of people whose token has none, from the IdP's userInfo; null when turned off. */
  emails: EmailResolver | null;
  /** The people seen, written to the state store when new (not per request). */
  people: PeopleSeen;
  /** The tenants' budgets and limits, current with the store's policy version. */
  policies: PolicyCache;
  /** Usage writes (settle, record, release), sent to the store in batches. */
  usageWrites: UsageBatcher;
  metrics: Metrics;
  /** Who changed what (admin API, directory, policy reloads), in the state store. */
  audit: AuditLog;
  log: (line: LogLine) => void;
  /** Requests to the upstreams. */
  fetch: typeof fetch;
  connections: ConnectionTimeouts;
  maxBodyBytes: number;
  /** The admin key (from `--admin-key-file`), when one is configured. */
  adminKey?: string;
  /** The longest access-token lifetime: how long a revocation by user is kept. */
  revocationTtlMs: number;
  newRequestId(): string;
}
