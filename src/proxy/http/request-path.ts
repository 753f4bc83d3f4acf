/**
 * The request path of `/anthropic/*`, in order:
 *   verify the token → check the denylist → read the body → budgets (reserve the estimate) →
 *   rate limits (admit; a refusal releases the reservation) → forward → settle to the real usage (or release).
 * Admit and reserve run only when a limit or budget applies to the person (limits/applicable.ts);
 * usage is always recorded, through the batcher (state/usage-batcher.ts).
 * Each step's rules live in their own module (auth/, limits/, accounting/, state/); this file
 * only says what happens when. A StateUnavailable thrown by any step reaches the server's
 * handler, which answers 503 `overloaded_error` (fail-closed; fail-open is the state wrapper's).
 * Settle runs after the answer was sent: the state wrapper spools it when the store is down.
 */
import { estimateOf, requestFacts } from "../accounting/estimate.ts";
import { resolveModel } from "../accounting/pricing.ts";
import { hasUsage, usageRecord } from "../accounting/record.ts";
import { cacheWrites } from "../accounting/usage.ts";
import { applicable } from "../limits/applicable.ts";
import { BUDGET_WARNING_HEADER, budgetRefusal, budgetWarning, rateLimitRefusal } from "../limits/responses.ts";
import type { Estimate, Reservation } from "../model/budgets.ts";
import type { Person } from "../model/person.ts";
import { tokensOf } from "../model/usage.ts";
import type { ApiRoute } from "./routes.ts";
import { activeUser } from "./active-user.ts";
import type { GatewayRefusal } from "./errors.ts";
import { readRequestBody } from "./body.ts";
import type { ProxyContext, TenantRuntime } from "./context.ts";
import { forward, type ForwardEnd } from "./forward.ts";
import { type LogLine, logEvent } from "../telemetry/log.ts";

export interface ApiTarget {
  route: ApiRoute;
  upstreamPath: string;
  search: string;
}

/** What the settle step needs of a metered request. */
interface Metered {
  person: Person;
  estimate: Estimate;
  /** None when no budget applies to the person: the usage is recorded without one. */
  reservation: Reservation | undefined;
  /** Whether a tokens-per-minute window counted the estimate (and is corrected after). */
  tokensPerMinute: boolean;
  requestedModel: string | undefined;
  budgetWarning: string | undefined;
}

export async function serveApi(ctx: ProxyContext, runtime: TenantRuntime, request: Request, target: ApiTarget, started: number, base: string): Promise<Response> {
  const slug = runtime.config.slug;
  const { route } = target;

  // 1. who is asking, and 2. still allowed (offboarding, logout)
  const active = await activeUser(ctx, runtime, request, started, base, route);
  if (active instanceof Response) return active;
  const { person } = active;

  const body = await readRequestBody(request, ctx.maxBodyBytes);
  if (body.kind === "too_large") return ctx.tooLarge(request, started, slug, route);

  // count_tokens and models are not use: no limits, nothing to settle
  const tooLarge = () => ctx.tooLarge(request, started, slug, route);
  if (route !== "messages") return forward(ctx.forwardDeps, runtime.config, request, target, body, started, (end) => finish(ctx, runtime, request, route, person, started, ctx.newRequestId(), end), tooLarge);

  // 3. budgets, then 4. rate limits, on an estimate from max_tokens and the body's size. Budgets
  // first, so a request a budget refuses never counts toward a rate limit; a request the rate
  // limit refuses gives its reservation back (in the shared store: every replica agrees).
  const facts = requestFacts(body.kind === "whole" ? body.body : undefined, body.kind === "stream" ? body.bytes : 0);
  const estimate = estimateOf(facts, runtime.prices);
  const applies = applicable(person, await ctx.policies.get(slug), runtime.rateDefaults, Date.now());
  let reservation: Reservation | undefined;
  let warning: string | undefined;
  if (applies.reserve) {
    const reserved = await ctx.state.reserve(person, estimate);
    if (!reserved.ok) return refuse(ctx, request, started, slug, route, budgetRefusal(reserved.refusedBy, estimate, Date.now()));
    reservation = reserved.reservation;
    warning = budgetWarning(reserved.warnings);
  }
  if (applies.admit) {
    let admitted;
    try {
      admitted = await ctx.state.admit(person, estimate.tokens, { defaults: runtime.rateDefaults });
    } catch (e) {
      if (reservation) await giveBack(ctx, reservation);
      throw e;
    }
    if (!admitted.allowed) {
      if (reservation) await giveBack(ctx, reservation);
      return refuse(ctx, request, started, slug, route, rateLimitRefusal(admitted));
    }
  }
  const metered: Metered = { person, estimate, reservation, tokensPerMinute: applies.tokensPerMinute, requestedModel: facts.model, budgetWarning: warning };

  // 5. forward, and 6. settle when the answer is over
  const requestId = ctx.newRequestId();
  return forward(ctx.forwardDeps, runtime.config, request, target, body, started, (end) => finish(ctx, runtime, request, route, person, started, requestId, end, metered), tooLarge, warning ? { [BUDGET_WARNING_HEADER]: warning } : undefined);
}

function refuse(ctx: ProxyContext, request: Request, started: number, slug: string, route: string, refusal: GatewayRefusal): Response {
  ctx.metrics.refusals.inc({ tenant: slug, reason: refusal.code });
  return ctx.rejected(request, started, slug, route, refusal);
}

/** A reservation for a request that will not be forwarded: released before answering, so a retry finds the room. */
async function giveBack(ctx: ProxyContext, reservation: Reservation): Promise<void> {
  // the store, or the spool when it is down; either way it is given back (or expires in 15 min)
  await ctx.usageWrites.write({ kind: "release", reservation }).catch(() => {});
}


/** Settles (or releases) the reservation, counts the usage, writes the log line. */
function finish(ctx: ProxyContext, runtime: TenantRuntime, request: Request, route: ApiRoute, person: Person, started: number, requestId: string, end: ForwardEnd, metered?: Metered): void {
  const slug = runtime.config.slug;
  if (end.outcome === "body_too_large") {
    // answered and logged as a 413; nothing reached the model
    if (metered?.reservation) void ctx.usageWrites.write({ kind: "release", reservation: metered.reservation }).catch(() => {});
    return;
  }
  const duration = Date.now() - started;
  ctx.metrics.request(slug, route, end.status);
  if (end.outcome === "upstream_auth") upstreamCredentialRefused(ctx, slug, end.upstreamStatus ?? 0);
  ctx.metrics.duration(slug, route, duration / 1000);
  if (end.ttfbMs !== undefined) ctx.metrics.upstreamTtfb(slug, route, end.ttfbMs / 1000);
  const line: LogLine = {
    time: new Date(started).toISOString(),
    tenant: slug,
    method: request.method,
    route,
    status: end.status,
    duration_ms: duration,
    ...(end.ttfbMs !== undefined ? { upstream_ttfb_ms: end.ttfbMs } : {}),
    sub: person.sub,
    ...(person.username ? { username: person.username } : {}),
    display_name: person.displayName,
    groups: person.groups,
    request_id: requestId,
    upstream_request_id: end.upstreamRequestId,
    completed: end.outcome === "completed",
    ...(end.outcome === "cancelled" || end.outcome === "failed" ? { outcome: end.outcome } : {}),
    ...(end.outcome === "upstream_auth" ? { level: "warn" as const, reject_reason: "upstream_auth", upstream_status: end.upstreamStatus } : {}),
    ...(metered?.budgetWarning ? { budget_warning: metered.budgetWarning } : {}),
  };
  if (!metered || !hasUsage(end.usage)) {
    // nothing was used (an error before the model ran, or no usage to read): give the estimate back
    if (end.usage.model) line.model = end.usage.model;
    if (metered?.reservation) void ctx.usageWrites.write({ kind: "release", reservation: metered.reservation }).catch((e) => writeFailed(ctx, line, e));
    ctx.log(line);
    return;
  }
  const { record, cost } = usageRecord(requestId, end.upstreamRequestId, started, person, end.usage, metered.requestedModel, runtime.prices);
  const writes = cacheWrites(end.usage);
  ctx.metrics.usage(slug, resolveModel(record.model, runtime.prices) ?? "unknown", {
    input: record.inputTokens,
    output: record.outputTokens,
    cache_write_5m: writes.fiveMinute,
    cache_write_1h: writes.oneHour,
    cache_read: record.cacheReadInputTokens,
  }, cost.usd);
  Object.assign(line, {
    model: record.model,
    input_tokens: record.inputTokens,
    output_tokens: record.outputTokens,
    cache_creation_input_tokens: record.cacheCreationInputTokens,
    cache_creation_5m_input_tokens: writes.fiveMinute,
    cache_creation_1h_input_tokens: writes.oneHour,
    cache_read_input_tokens: record.cacheReadInputTokens,
    ...(record.webSearchRequests ? { web_search_requests: record.webSearchRequests } : {}),
    ...(cost.usd === null ? { cost_unknown: true } : { cost_usd: cost.usd }),
  } satisfies Partial<LogLine>);
  const delta = metered.tokensPerMinute ? tokensOf(record) - metered.estimate.tokens : 0;
  // the store, or the spool when the store is down (state/resilient.ts): either way it is kept
  void ctx.usageWrites.write(metered.reservation ? { kind: "settle", reservation: metered.reservation, record } : { kind: "record", record }).then(
    // the per-minute window's correction is best effort: a window lasts a minute
    () => (delta !== 0 ? ctx.state.chargeTokens(person, delta, { defaults: runtime.rateDefaults }).catch(() => {}) : undefined),
    (e) => writeFailed(ctx, line, e),
  );
  ctx.log(line);
}

const lastCredentialWarning = new Map<string, number>();

/** The upstream refused the tenant's key: counted for alerts, and said on stderr at most once a minute per tenant with the fix. */
function upstreamCredentialRefused(ctx: ProxyContext, slug: string, status: number): void {
  ctx.metrics.upstreamAuthFailures.inc({ tenant: slug, status: String(status) });
  const now = Date.now();
  if (now - (lastCredentialWarning.get(slug) ?? 0) < 60_000) return;
  lastCredentialWarning.set(slug, now);
  logEvent("warn", `the upstream refused tenant ${slug}'s API key (HTTP ${status}): requests are answered 502 upstream_auth until it is replaced; check --upstream-key-file / upstreamApiKeyFile`, { tenant: slug, reject_reason: "upstream_auth", upstream_status: status });
}

/** Neither the store nor the spool took the write (or there is no spool): the log line carries the usage. */
function writeFailed(ctx: ProxyContext, line: LogLine, e: unknown): void {
  ctx.metrics.stateEvents.inc({ event: "write_failed", policy: "" });
  ctx.log({ ...line, state_error: (e as Error).message });
}
