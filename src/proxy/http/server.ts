/**
 * The tenant proxy's HTTP runtime: one listener for the tenants' traffic, one for metrics,
 * per-tenant runtimes (keys, policy, verified-token cache, prices, limits), the state store, and
 * the dispatch of a request, as an exchange (exchange.ts), to its handler: probes, discovery, the
 * gateway's own endpoints (gateway-endpoints.ts), or the API request path (request-path.ts).
 * Replicas share the state store (`--state redis://…`); one host's processes may share a SQLite file.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { startAlerts, type RunningAlerts } from "../alerts/start.ts";
import { AuditLog } from "../audit/audit-log.ts";
import { startRevalidator } from "../directory/start.ts";
import type { Server } from "bun";
import { DEFAULT_PRICES, mergePriceTables } from "../accounting/pricing.ts";
import { DenylistCheck } from "../auth/denylist.ts";
import { PeopleSeen } from "../auth/people-seen.ts";
import { EmailResolver } from "../auth/userinfo.ts";
import { IssuerKeys } from "../auth/jwks.ts";
import { CLOCK_SKEW_SECONDS, VerifiedTokenCache } from "../auth/verify.ts";
import { DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES, tenantForHost, type ProxyConfig, type TenantConfig } from "../config.ts";
import { PolicyCache } from "../limits/applicable.ts";
import { TenantPolicies } from "../policy/tenant-policies.ts";
import { DEFAULT_STATE_URL, defaultSpoolBase, type OpenedState, openState, parseStateUrl, shownStateUrl } from "../state/open.ts";
import { UsageBatcher } from "../state/usage-batcher.ts";
import type { FailurePolicy } from "../state/resilient.ts";
import { observeSpool } from "../state/spool-observers.ts";
import { GATEWAY_PREFIX, gatewayEndpointsJson } from "../../shared/gateway-api.ts";
import { buildTenantDiscovery, DISCOVERY_PATH } from "../../shared/tenant-discovery.ts";
import type { ProxyContext, TenantRuntime } from "./context.ts";
import { logEvent, stdoutLogger, type LogLine } from "../telemetry/log.ts";
import { createMetrics, type Metrics } from "../telemetry/metrics.ts";
import { observePools } from "../telemetry/upstream-metrics.ts";
import { buildPoolNow } from "../upstreams/build.ts";
import type { Pool } from "../upstreams/pool.ts";
import { GatewayRefusal, refusalOf, refusalResponse } from "./errors.ts";
import { Exchange } from "./exchange.ts";
import { serveGateway } from "./gateway-endpoints.ts";
import { type ConsoleParts, isConsolePath, openConsoleParts, TenantConsole } from "./console.ts";
import type { ConsoleAssets } from "../console/assets.ts";
import { newRequestId } from "./request-id.ts";
import { serveApi } from "./request-path.ts";
import { decideRoute, validHost } from "./routes.ts";

export interface ProxyOptions {
  config: ProxyConfig;
  port: number;
  hostname?: string;
  /** Receives one line per request; default: JSON on stdout. */
  log?: (line: LogLine) => void;
  fetch?: typeof fetch;
  /** Serve HTTPS with this certificate (PEM). */
  tls?: { cert: string; key: string };
  /** The host name in the URL reported as `url` (default: the listening address). */
  publicHost?: string;
  /** Serve `/metrics` on this separate listener (default hostname 127.0.0.1); absent: no metrics endpoint. */
  metrics?: { port: number; hostname?: string };
  /** The state store: a `--state` URL (default `sqlite::memory:`) or an opened store (then not closed by shutdown). */
  state?: string | OpenedState;
  /** With Redis unreachable: "closed" (default: 503 and /readyz false) or "open" (serve, write counts later). */
  stateFailure?: FailurePolicy;
  /** `--spool-dir`: where writes the store could not take are kept (default beside the SQLite file, or under $XDG_STATE_HOME / /var/lib/agent-runner for Redis). */
  spoolDir?: string;
  /** Admin groups for tenants whose configuration names none. */
  adminGroups?: string[];
  /** The admin key for automation (read from `--admin-key-file`). */
  adminKey?: string;
  /** How long a denylist answer is reused (default 1000 ms; revocations take effect within it). */
  revocationCacheMs?: number;
  /** Look up the e-mail of people whose token has none at the IdP's userInfo (default true; `--no-userinfo`). */
  userInfo?: boolean;
  /**
   * The tenants' upstream pools by slug, built (key files and AWS credentials opened) by serve.ts
   * before the server starts; a tenant without one gets its pool built here, which only keys
   * given in the configuration or the environment allow (in-process gateways, tests).
   */
  pools?: ReadonlyMap<string, Pool>;
  /** Share the port with other processes (SO_REUSEPORT): the workers of `--workers N` (src/proxy/workers.ts). */
  reusePort?: boolean;
  /** The tenants' policies, opened before (TenantPolicies.open); required when a tenant has a `policy`. Closed by shutdown. */
  policies?: TenantPolicies;
  /** The admin console's bundle, built once by the primary (serve.ts, workers.ts); absent: built here when a tenant has `console`. */
  consoleAssets?: ConsoleAssets | Promise<ConsoleAssets>;
}

const DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS = 3600;

/** Splits `request.url` into path and search without a URL parse (Bun gives a relative URL for an odd Host). */
function splitTarget(url: string): { path: string; search: string } {
  const pathStart = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (pathStart === -1) return { path: "/", search: "" };
  const queryStart = url.indexOf("?", pathStart);
  return queryStart === -1 ? { path: url.slice(pathStart), search: "" } : { path: url.slice(pathStart, queryStart), search: url.slice(queryStart) };
}

function openConfiguredState(options: ProxyOptions, metrics: Metrics): { state: OpenedState; owned: boolean } {
  if (typeof options.state === "object") return { state: options.state, owned: false };
  const policy = options.stateFailure ?? "closed";
  let opened: OpenedState | undefined;
  const spool = observeSpool(metrics.registry, () => (opened as { queued?: number } | undefined)?.queued ?? 0);
  const state = openState(options.state ?? DEFAULT_STATE_URL, {
    onRedisDown: policy,
    spool: { ...(options.spoolDir !== undefined ? { dir: options.spoolDir } : {}), hooks: spool.spool, onUnavailable: (message) => logEvent("warn", message) },
    hooks: {
      ...spool.resilience,
      degraded: (e) => {
        metrics.stateEvents.inc({ event: "degraded", policy: e.policy });
        metrics.stateDegraded.set(1);
        logEvent("error", `state store unreachable (${e.op}): ${e.error.message}; ${e.policy === "open" ? "serving without shared limits, counts kept to write later" : "refusing requests until it is back"}`, { policy: e.policy });
      },
      recovered: (e) => {
        metrics.stateEvents.inc({ event: "recovered", policy });
        metrics.stateDegraded.set(0);
        logEvent("info", `state store back after ${e.downMs} ms; ${e.flushed} queued writes written`, { flushed: e.flushed, down_ms: e.downMs });
      },
      dropped: (e) => {
        metrics.stateEvents.inc({ event: "dropped", policy });
        logEvent("error", `state store still down: fail-open queue full, oldest ${e.kind} dropped`);
      },
    },
  });
  opened = state;
  return { state, owned: true };
}

/** The state store in force, for the start-up log line: no credentials, the failure policy that applies, the spool. */
export interface StateInForce {
  /** The `--state` URL without a password. */
  store: string;
  /** What a request meets while the store cannot answer; null for an in-memory store, which cannot be unreachable. */
  failure: FailurePolicy | null;
  /** Where writes the store could not take are kept; null without a spool. */
  spoolDir: string | null;
}

function stateInForce(options: ProxyOptions, state: OpenedState): StateInForce {
  const url = typeof options.state === "string" ? options.state : options.state ? "(given by the caller)" : DEFAULT_STATE_URL;
  const remote = url.startsWith("redis://") || url.startsWith("rediss://");
  // a SQLite file has nothing to serve from while it is busy: it refuses (open.ts), whatever --state-failure says
  const failure: FailurePolicy | null = remote ? (options.stateFailure ?? "closed") : url === "sqlite::memory:" ? null : "closed";
  return { store: shownStateUrl(url), failure, spoolDir: state.spoolDir ?? null };
}

export function startProxy(options: ProxyOptions) {
  const { config } = options;
  const maxBodyBytes = config.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const idleTimeout = config.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS;
  const metrics: Metrics = createMetrics();
  const stdout = options.log ? undefined : stdoutLogger();
  const log = options.log ?? (stdout as ReturnType<typeof stdoutLogger>).log;
  const allTenants = config.single ? [config.single] : [...config.tenants.values()];
  const policies = options.policies ?? TenantPolicies.none();
  const unopened = allTenants.find((t) => t.policy && !policies.get(t.slug));
  if (unopened) throw new Error(`tenant ${unopened.slug} has a policy that was not opened: pass TenantPolicies.open(...) as options.policies`);
  policies.register(metrics.registry);
  const { state, owned: ownsState } = openConfiguredState(options, metrics);
  const { runtimes, keysByIssuer } = buildRuntimes(allTenants, options, metrics, policies);
  observePools(metrics.registry, [...runtimes.values()].map((r) => ({ tenant: r.config.slug, pool: r.pool })));
  const longestLifetime = Math.max(...allTenants.map((t) => t.cli.access_token_lifetime_seconds ?? DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS));

  // this process, in the state store's claims (one alert, one directory check, one reload row across replicas)
  const claimant = `${hostname()}_${process.pid}_${randomUUID().slice(0, 8)}`;
  const userInfo = new EmailResolver({ log: (message) => logEvent("warn", message) });
  const ctx: ProxyContext = {
    state,
    denylist: new DenylistCheck(state, options.revocationCacheMs ?? 1000),
    emails: options.userInfo === false ? null : userInfo,
    people: new PeopleSeen(state),
    policies: new PolicyCache(state),
    usageWrites: new UsageBatcher(state),
    metrics,
    audit: new AuditLog({ state, claimant, log: logEvent, failures: metrics.auditFailures }),
    log,
    fetch: options.fetch ?? fetch,
    connections: {
      // While a request is upstream its client connection may be quiet for minutes (a long
      // generation, a stream between pings): lift the idle limit for it, and put it back once the
      // answer is over, because Bun keeps a per-request timeout on the keep-alive socket afterwards.
      hold: (request) => server.timeout(request, 0),
      release(request) {
        try {
          server.timeout(request, idleTimeout);
        } catch {
          // the client has gone: nothing to limit
        }
      },
    },
    maxBodyBytes,
    ...(options.adminKey !== undefined ? { adminKey: options.adminKey } : {}),
    revocationTtlMs: (longestLifetime + CLOCK_SKEW_SECONDS) * 1000,
    newRequestId,
  };
  const running = startTenantServices(runtimes, ctx, options, claimant, userInfo);
  const { parts: consoleParts, consoles } = startConsoles(runtimes, ctx, options);

  /**
   * The tenant's public base URL: configured, or built from the (already validated) Host, or from
   * X-Forwarded-Proto/-Host when trusted, which must then be http(s) and a valid host; `null` if not.
   */
  function publicUrl(runtime: TenantRuntime, request: Request, host: string): string | null {
    if (runtime.config.publicUrl) return runtime.config.publicUrl;
    let proto = options.tls ? "https" : "http";
    let publicHost: string | null = host;
    if (config.trustForwardedHeaders) {
      const forwardedProto = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim();
      if (forwardedProto !== undefined) {
        if (forwardedProto !== "http" && forwardedProto !== "https") return null;
        proto = forwardedProto;
      }
      const forwardedHost = request.headers.get("x-forwarded-host");
      if (forwardedHost !== null) publicHost = validHost(forwardedHost.split(",")[0]?.trim());
    }
    return publicHost ? `${proto}://${publicHost}` : null;
  }

  function discovery(runtime: TenantRuntime, base: string): Response {
    let body = runtime.discoveryJson.get(base);
    if (!body) {
      const doc = buildTenantDiscovery(base, runtime.config.issuer, runtime.config.cli, `agent-runner tenant ${runtime.config.slug}`);
      // the gateway's own endpoints, so the CLI finds logout and usage without configuration
      body = JSON.stringify({ ...doc, agent_runner_auth: { ...doc.agent_runner_auth, ...gatewayEndpointsJson(base) } });
      if (runtime.discoveryJson.size < 16) runtime.discoveryJson.set(base, body);
    }
    return new Response(body, { headers: { "content-type": "application/json", "cache-control": "public, max-age=300" } });
  }

  /** For a Host that names a tenant with a policy, the hash it enforces (a bare /readyz names no tenant). */
  function policyLine(request: Request): string {
    if (policies.size === 0) return "";
    const tenant = tenantForHost(config, validHost(request.headers.get("host")));
    const source = tenant && policies.get(tenant.slug);
    return source ? `policy sha256:${source.current().compiled.hash}\n` : "";
  }

  async function handle(ex: Exchange): Promise<Response> {
    const { request } = ex;
    const { path, search } = splitTarget(request.url);

    // Open to anyone, so they say nothing about tenants (which JWKS failed is in the warn log).
    if (path === "/healthz") return new Response("ok\n");
    if (path === "/readyz") {
      if (![...keysByIssuer.values()].every((k) => k.loaded)) return new Response("not ready: signing keys not loaded yet\n", { status: 503 });
      if (!state.ready()) return new Response("not ready: the state store is unreachable\n", { status: 503 });
      return new Response(`ready\n${policyLine(request)}`);
    }

    const host = validHost(request.headers.get("host"));
    if (!host) return ex.refuse(new GatewayRefusal("bad_host", "the Host header must be a host name or address with an optional port from 1 to 65535"));
    const tenantConfig = tenantForHost(config, host);
    const runtime = tenantConfig && runtimes.get(tenantConfig);
    if (!runtime) return ex.refuse(new GatewayRefusal("unknown_tenant", `no agent-runner tenant is served at ${host}`));
    ex.runtime = runtime; // a refused X-Forwarded-Host is logged as the tenant's
    const base = publicUrl(runtime, request, host);
    if (!base) return ex.refuse(new GatewayRefusal("bad_forwarded_host", "X-Forwarded-Host must be a host name with an optional port, and X-Forwarded-Proto http or https"));
    const tenantEx = ex.forTenant(runtime, base);
    if (path === DISCOVERY_PATH) return discovery(runtime, base);
    if (path.startsWith(GATEWAY_PREFIX)) {
      // the admin console authenticates by its own cookie: answered before the table's bearer checks
      const tenantConsole = consoles.get(runtime);
      if (tenantConsole && isConsolePath(path)) return tenantConsole.serve(tenantEx);
      return serveGateway(tenantEx, path, search);
    }

    const decision = decideRoute(request.method, path, search);
    if (decision.kind === "reject") return ex.refuse(new GatewayRefusal(decision.reason, decision.message));
    if (decision.kind === "probe") return new Response(null, { status: 200 });
    ex.route = decision.route;
    if (Number(request.headers.get("content-length") ?? 0) > maxBodyBytes) return ex.tooLarge();
    return serveApi(tenantEx, decision);
  }

  async function serveMetrics(request: Request): Promise<Response> {
    if (splitTarget(request.url).path !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) return new Response("not found\n", { status: 404 });
    return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
  }

  /** The background services: stopped first at shutdown, before the listener drains. */
  function stopServices(): void {
    for (const k of keysByIssuer.values()) k.stop();
    policies.close();
    for (const runtime of runtimes.values()) runtime.revalidator?.stop();
    for (const c of consoles.values()) c.stop();
    for (const alerts of running.alerts) alerts.delivery.close(); // what is not delivered stays in the spool for the next start
  }
  /** The stores and pools: closed last, once nothing can write. */
  async function closeStores(): Promise<void> {
    await ctx.usageWrites.close();
    for (const r of runtimes.values()) r.pool.close();
    await consoleParts?.close();
    if (ownsState) await state.close();
  }
  /** What started before a listener failed to bind: let go, so nothing runs behind the error. */
  function releaseStarted(): Promise<void> {
    stopServices();
    return closeStores();
  }
  // A listener that cannot bind (the port taken: EADDRINUSE) leaves nothing running behind it.
  const server: Server<undefined> = bindOrRelease(() => Bun.serve({
    port: options.port,
    hostname: options.hostname ?? "0.0.0.0",
    reusePort: options.reusePort ?? false,
    ...(options.tls ? { tls: options.tls } : {}),
    // Idle keep-alive connections are closed after this; requests upstream lift it (ctx.connections).
    idleTimeout,
    // Bun's own limit answers a bare 413 (not the API's shape): set it out of the way and
    // enforce maxBodyBytes here, for declared lengths and for chunked bodies as they stream.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    async fetch(request) {
      metrics.inflight.inc();
      const ex = new Exchange(ctx, request, Date.now());
      try {
        return await handle(ex);
      } catch (e) {
        // the state store down (503, fail-closed), bad input (400), a bug (500)
        return ex.refuse(refusalOf(e));
      } finally {
        metrics.inflight.dec();
      }
    },
    error(error) {
      return refusalResponse(new GatewayRefusal("internal", `internal proxy error: ${error.message}`, { cause: error }), newRequestId());
    },
  }), releaseStarted);
  // Metrics name every tenant and its traffic: only on their own listener, loopback by default.
  // If it cannot bind, the main listener (already up) goes too, with everything behind it.
  const metricsOptions = options.metrics;
  const metricsServer = metricsOptions
    ? bindOrRelease(() => Bun.serve({ port: metricsOptions.port, hostname: metricsOptions.hostname ?? "127.0.0.1", idleTimeout, fetch: serveMetrics }), async () => {
        await server.stop(true);
        await releaseStarted();
      })
    : undefined;

  return {
    server,
    url: `${options.tls ? "https" : "http"}://${options.publicHost ?? (server.hostname === "0.0.0.0" ? "127.0.0.1" : server.hostname)}:${server.port}`,
    metrics,
    state,
    stateInForce: stateInForce(options, state),
    /** Where `/metrics` is served, when a metrics listener was asked for. */
    metricsUrl: metricsServer ? `http://${metricsServer.hostname}:${metricsServer.port}` : undefined,
    ready: () => Promise.all([...keysByIssuer.values()].map((k) => k.refresh())).then(() => undefined),
    /** Whether every tenant's console can answer (IdP discovered, bundle built) within the time; true with no console. */
    consoleReady: async (timeoutMs?: number) => (await Promise.all([...consoles.values()].map((c) => c.ready(timeoutMs)))).every(Boolean),
    /** Stops accepting, lets requests and streams in flight finish (bounded), then closes. */
    async shutdown(graceMs = config.shutdownGraceMs): Promise<void> {
      stopServices();
      const graceful = server.stop(false);
      await Promise.race([graceful, new Promise((r) => setTimeout(r, graceMs))]);
      await Promise.all([server.stop(true), metricsServer?.stop(true)]);
      // settles of the last streams run just after their end: let them reach the store
      await new Promise((r) => setTimeout(r, 50));
      await closeStores();
      await stdout?.flush();
    },
  };
}

/** `bind()`, or, when it throws, `release()` started and the error thrown on. */
function bindOrRelease<T>(bind: () => T, release: () => Promise<void>): T {
  try {
    return bind();
  } catch (e) {
    void release().catch(() => {});
    throw e;
  }
}

/**
 * Each tenant's background services (issue 18): offboarding from the directory (a revalidator
 * that identity.ts tells of every session seen), budget alerts (observed after settle), and the
 * audit row of each policy in force (the first load and every reload, once per hash across replicas).
 */
function startTenantServices(runtimes: Map<TenantConfig, TenantRuntime>, ctx: ProxyContext, options: ProxyOptions, claimant: string, userInfo: EmailResolver): { alerts: RunningAlerts[] } {
  const alerts: RunningAlerts[] = [];
  // the issuer and the webhook are not upstreams: the global fetch (options.fetch is the upstreams')
  const fetchFn = fetch;
  for (const runtime of runtimes.values()) {
    const revalidator = startRevalidator(runtime.config, { state: ctx.state, denylist: ctx.denylist, userInfo, audit: ctx.audit, metrics: ctx.metrics, fetch: fetchFn, claimant });
    if (revalidator) runtime.revalidator = revalidator;
    const started = startAlerts(runtime.config, { state: ctx.state, metrics: ctx.metrics, fetch: fetchFn, spoolBase: alertSpoolBase(options) });
    if (started) {
      runtime.alerts = started.alerts;
      alerts.push(started);
    }
    const policy = runtime.accessPolicy;
    if (policy) {
      const slug = runtime.config.slug;
      const first = policy.current();
      void ctx.audit.recordReload(slug, { hash: first.compiled.hash, source: first.origin });
      policy.onChange((next, previous) => void ctx.audit.recordReload(slug, { hash: next.compiled.hash, previousHash: previous.compiled.hash, source: next.origin }));
    }
  }
  return { alerts };
}

/**
 * The admin console of each tenant that has `console` (http/console.ts): the sessions beside the
 * state (an opened state given by the caller: in memory), the roll-ups the state's own, the bundle
 * given or built once; each tenant's IdP discovered in the background.
 */
function startConsoles(runtimes: Map<TenantConfig, TenantRuntime>, ctx: ProxyContext, options: ProxyOptions): { parts: ConsoleParts | undefined; consoles: Map<TenantRuntime, TenantConsole> } {
  const consoles = new Map<TenantRuntime, TenantConsole>();
  const withConsole = [...runtimes.values()].filter((r) => r.config.console);
  if (withConsole.length === 0) return { parts: undefined, consoles };
  const url = typeof options.state === "string" ? options.state : DEFAULT_STATE_URL;
  const parts = openConsoleParts(url, options.consoleAssets);
  for (const runtime of withConsole) {
    const tenantConsole = new TenantConsole(runtime, ctx, parts);
    tenantConsole.start();
    consoles.set(runtime, tenantConsole);
  }
  return { parts, consoles };
}

/** Alerts are spooled beside the state's spool: `--spool-dir`, else beside the SQLite file, else the default base. */
function alertSpoolBase(options: ProxyOptions): string {
  if (options.spoolDir !== undefined) return options.spoolDir;
  const url = typeof options.state === "string" ? options.state : DEFAULT_STATE_URL;
  const location = parseStateUrl(url);
  return defaultSpoolBase(location.kind === "sqlite" && location.path !== ":memory:" ? location.path : undefined, process.env);
}

/** One runtime per tenant; tenants of one issuer share its keys, and a key change clears their caches. */
function buildRuntimes(tenants: TenantConfig[], options: ProxyOptions, metrics: Metrics, policies: TenantPolicies) {
  const runtimes = new Map<TenantConfig, TenantRuntime>();
  const keysByIssuer = new Map<string, IssuerKeys>();
  const cachesByIssuer = new Map<string, VerifiedTokenCache[]>();
  for (const tenant of tenants) {
    const verified = new VerifiedTokenCache();
    const caches = cachesByIssuer.get(tenant.jwksUri) ?? [];
    caches.push(verified);
    cachesByIssuer.set(tenant.jwksUri, caches);
    let keys = keysByIssuer.get(tenant.jwksUri);
    if (!keys) {
      keys = new IssuerKeys(tenant.jwksUri, {
        onRefresh: (ok) => metrics.jwksRefreshes.inc({ tenant: tenant.slug, outcome: ok ? "ok" : "error" }),
        onKeysChanged: () => {
          for (const cache of cachesByIssuer.get(tenant.jwksUri) ?? []) cache.clear();
        },
      });
      keysByIssuer.set(tenant.jwksUri, keys);
      keys.startBackgroundRefresh();
      void keys.refresh().catch((e) => logEvent("warn", `JWKS not loaded yet: ${(e as Error).message}`, { tenant: tenant.slug }));
    }
    runtimes.set(tenant, {
      config: tenant,
      pool: options.pools?.get(tenant.slug) ?? buildPoolNow(tenant.pool, poolDeps(tenant.slug, options)),
      keys,
      policy: { issuer: tenant.issuer, clientIds: new Set(tenant.clientIds), requiredGroups: tenant.requiredGroups },
      verified,
      discoveryJson: new Map(),
      prices: mergePriceTables(DEFAULT_PRICES, tenant.prices),
      rateDefaults: tenant.rateLimits ?? {},
      adminGroups: tenant.adminGroups ?? options.adminGroups ?? [],
      ...(policies.get(tenant.slug) ? { accessPolicy: policies.get(tenant.slug) } : {}),
    });
  }
  return { runtimes, keysByIssuer };
}

/** What a pool is given by the process: its clock, randomness, log and request ids. */
export function poolDeps(tenant: string, options: { fetch?: typeof fetch }) {
  return { tenant, log: logEvent, now: Date.now, random: Math.random, newRequestId, ...(options.fetch ? { fetch: options.fetch } : {}) };
}

export type RunningProxy = ReturnType<typeof startProxy>;
