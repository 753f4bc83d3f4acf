/** What the request handlers share: one per proxy instance, and one runtime per tenant. */
import type { PriceTable } from "../accounting/pricing.ts";
import type { TenantAuth } from "../auth/authenticate.ts";
import type { DenylistCheck } from "../auth/denylist.ts";
import type { PeopleSeen } from "../auth/people-seen.ts";
import type { EmailResolver } from "../auth/userinfo.ts";
import type { TokenRejected } from "../auth/verify.ts";
import type { TenantConfig } from "../config.ts";
import type { PolicyCache } from "../limits/applicable.ts";
import type { RateDefaults } from "../model/rate-windows.ts";
import type { GatewayState } from "../state/types.ts";
import type { UsageBatcher } from "../state/usage-batcher.ts";
import type { GatewayRefusal } from "./errors.ts";
import type { ForwardDeps } from "./forward.ts";
import type { LogLine } from "../telemetry/log.ts";
import type { Metrics } from "../telemetry/metrics.ts";

export interface TenantRuntime extends TenantAuth {
  config: TenantConfig;
  discoveryJson: Map<string, string>;
  prices: PriceTable;
  rateDefaults: RateDefaults;
  /** Members of these `cognito:groups` may use the admin API. */
  adminGroups: readonly string[];
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
  log: (line: LogLine) => void;
  forwardDeps: ForwardDeps;
  maxBodyBytes: number;
  /** The admin key (from `--admin-key-file`), when one is configured. */
  adminKey?: string;
  /** The longest access-token lifetime: how long a revocation by user is kept. */
  revocationTtlMs: number;
  newRequestId(): string;
  /** An answer the proxy gives itself, refusing the request: logged with its reason, counted, with a request-id and `x-agent-runner-reason`. */
  rejected(request: Request, started: number, tenant: string | null, route: string, refusal: GatewayRefusal): Response;
  /** 401 with the RFC 9728 challenge, or 403 for a missing group; logged and counted. */
  unauthorized(request: Request, started: number, runtime: TenantRuntime, base: string, route: string, rejected: TokenRejected): Response;
  tooLarge(request: Request, started: number, tenant: string, route: string): Response;
}
