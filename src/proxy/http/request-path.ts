/**
 * The request path of `/anthropic/*`, step by step:
 *   1. authenticate (verify the token) → 2. check revocation (the denylist) → read the body (whole, up
 *   to the limit: failover may resend it) → 3. check the tenant policy (policy/request-rules.ts: the
 *   model asked for, before anything is reserved or forwarded) → 4. reserve (budgets, then rate
 *   limits, stored and the policy's; a rate-limit refusal releases the reservation) → 5. forward
 *   (through the tenant's upstream pool) → 6. settle to the real usage (or release) when the answer is over.
 * The model check applies to messages, count_tokens and `GET /v1/models/{id}`, and the model list
 * is filtered to the person's models; budgets and limits apply to `messages` only (the rest is not use).
 * Reserve admits and reserves only when a limit or budget applies to the person
 * (limits/applicable.ts); usage is always recorded, through the batcher (state/usage-batcher.ts).
 * Each step's rules live in their own module (auth/, limits/, accounting/, state/); this file
 * only says what happens when. A StateUnavailable thrown by any step reaches the server's
 * handler, which answers 503 `overloaded_error` (fail-closed; fail-open is the state wrapper's).
 * Settle runs after the answer was sent: the state wrapper spools it when the store is down.
 */
import { estimateOf, type RequestFacts, requestFacts } from "../accounting/estimate.ts";
import { observeAfterSettle, observeRefusal } from "../alerts/start.ts";
import { resolveModel } from "../accounting/pricing.ts";
import { hasUsage, usageRecord } from "../accounting/record.ts";
import { cacheWrites } from "../accounting/usage.ts";
import { applicable } from "../limits/applicable.ts";
import { BUDGET_WARNING_HEADER, budgetRefusal, budgetWarning, rateLimitRefusal } from "../limits/responses.ts";
import type { Estimate, Reservation } from "../model/budgets.ts";
import type { Person } from "../model/person.ts";
import { tokensOf } from "../model/usage.ts";
import { logEvent } from "../telemetry/log.ts";
import { type PersonRules, checkModel, filteredModels, rulesFor } from "../policy/request-rules.ts";
import { readRequestBody } from "./body.ts";
import { GatewayRefusal } from "./errors.ts";
import type { LogDetail, TenantExchange } from "./exchange.ts";
import { type Forwarded, type ForwardEnd, type ForwardRequest, type ForwardTarget, forward } from "./forward.ts";
import { authenticate, checkRevocation } from "./identity.ts";
import type { ApiRoute } from "./routes.ts";

export interface ApiTarget extends ForwardTarget {
  route: ApiRoute;
}

/** What the settle step needs of a metered request. */
interface Metered {
  person: Person;
  estimate: Estimate;
  /** None when no budget applies to the person: the usage is recorded without one. */
  reservation: Reservation | undefined;
  /** Whether a tokens-per-minute window counted the estimate (and is corrected after). */
  tokensPerMinute: boolean;
  /** The policy's limits for the person, for that correction. */
  policyLimits: PersonRules["limits"] | undefined;
  /** The policy's budgets for the person, for the alerts after settle. */
  policyBudgets: PersonRules["budgets"] | undefined;
  requestedModel: string | undefined;
  budgetWarning: string | undefined;
}

export async function serveApi(ex: TenantExchange, target: ApiTarget): Promise<Response> {
  // 1. who is asking, 2. still allowed (offboarding, logout)
  const refused = (await authenticate(ex)) ?? (await checkRevocation(ex));
  if (refused) return refused;

  // read whole up to the limit: failover may send it to the next upstream, and the policy reads its model
  const body = await readRequestBody(ex.request, ex.ctx.maxBodyBytes, ex.ctx.maxBodyBytes);
  if (body.kind === "too_large") return ex.tooLarge();
  const bytes = body.kind === "whole" ? (body.body instanceof ArrayBuffer ? new Uint8Array(body.body) : body.body) : null;
  const facts = requestFacts(bytes ?? undefined, 0);

  // 3. check policy: the model this request is for must be one the person may use
  const rules = ex.runtime.accessPolicy ? rulesFor(ex.runtime.accessPolicy, ex.person as Person) : undefined;
  // the model list names no model: it is filtered instead (forwardUnmetered)
  const listsModels = target.route === "models" && modelIdOf(target) === undefined;
  if (rules && !listsModels) {
    const refusal = checkModel(target.route === "models" ? modelIdOf(target) : facts.model, rules.access);
    if (refusal) return ex.refuse(refusal);
  }
  if (target.route !== "messages") return settleWhenOver(ex, await forwardUnmetered(ex, { ...target, body: bytes, facts }, rules), undefined);

  // 4. reserve
  const metered = await reserve(ex, facts, rules);
  if (metered instanceof GatewayRefusal) {
    ex.ctx.metrics.refusals.inc({ tenant: ex.runtime.config.slug, reason: metered.code });
    return ex.refuse(metered);
  }

  // 5. forward, 6. settle when the answer is over
  const forwarded = await forward(ex, { ...target, body: bytes, facts }, metered.budgetWarning ? { [BUDGET_WARNING_HEADER]: metered.budgetWarning } : undefined);
  return settleWhenOver(ex, forwarded, metered);
}

/**
 * Budgets, then rate limits, on an estimate from max_tokens and the body's size. Budgets first,
 * so a request a budget refuses never counts toward a rate limit; a request the rate limit
 * refuses gives its reservation back (in the shared store: every replica agrees) before answering.
 */
async function reserve(ex: TenantExchange, facts: RequestFacts, rules: PersonRules | undefined): Promise<Metered | GatewayRefusal> {
  const { ctx, runtime } = ex;
  const person = ex.person as Person;
  const estimate = estimateOf(facts, runtime.prices);
  const applies = applicable(person, await ctx.policies.get(runtime.config.slug), runtime.rateDefaults, Date.now(), rules);
  const extraLimits = rules && rules.limits.length > 0 ? rules.limits : undefined;
  let reservation: Reservation | undefined;
  let warning: string | undefined;
  if (applies.reserve) {
    const reserved = await ctx.state.reserve(person, estimate, rules && rules.budgets.length > 0 ? { extraBudgets: rules.budgets } : {});
    if (!reserved.ok) {
      const refusal = budgetRefusal(reserved.refusedBy, estimate, Date.now());
      // used up for this request (not only held by requests in flight): the budget's 100 % alert
      if (runtime.alerts && refusal.code === "budget_exhausted") observeRefusal(runtime.alerts, person, reserved.refusedBy);
      return refusal;
    }
    reservation = reserved.reservation;
    warning = budgetWarning(reserved.warnings);
  }
  if (applies.admit) {
    let admitted;
    try {
      admitted = await ctx.state.admit(person, estimate.tokens, { defaults: runtime.rateDefaults, ...(extraLimits ? { extraLimits } : {}) });
    } catch (e) {
      if (reservation) await giveBack(ex, reservation);
      throw e;
    }
    if (!admitted.allowed) {
      if (reservation) await giveBack(ex, reservation);
      return rateLimitRefusal(admitted);
    }
  }
  return { person, estimate, reservation, tokensPerMinute: applies.tokensPerMinute, policyLimits: extraLimits, policyBudgets: rules && rules.budgets.length > 0 ? rules.budgets : undefined, requestedModel: facts.model, budgetWarning: warning };
}

/** `GET /v1/models/{id}`: the id from the path the route allowed. */
const modelIdOf = (target: ForwardTarget) => (target.upstreamPath.startsWith("/v1/models/") ? decodeURIComponent(target.upstreamPath.slice("/v1/models/".length)) : undefined);

/** count_tokens and models: forwarded without budgets or limits; the model list filtered to the person's models. */
async function forwardUnmetered(ex: TenantExchange, target: ForwardRequest, rules: PersonRules | undefined): Promise<Forwarded> {
  const forwarded = await forward(ex, target);
  if (!rules || target.route !== "models" || modelIdOf(target) !== undefined) return forwarded;
  if (forwarded.end instanceof Promise) {
    // a stream is not a model list: never passed on unfiltered
    await forwarded.response.body?.cancel().catch(() => {});
    return { response: ex.answer(new GatewayRefusal("upstream_failed", "the upstream answered the model list with a stream; it is not passed on unfiltered")), end: { ...(await forwarded.end), outcome: "failed", status: 502 } };
  }
  try {
    return { response: await filteredModels(forwarded.response, rules.access), end: forwarded.end };
  } catch (e) {
    if (!(e instanceof GatewayRefusal)) throw e;
    return { response: ex.answer(e), end: { ...forwarded.end, outcome: "failed", status: 502 } };
  }
}

/** A reservation for a request that will not be forwarded: released before answering, so a retry finds the room. */
async function giveBack(ex: TenantExchange, reservation: Reservation): Promise<void> {
  // the store, or the spool when it is down; either way it is given back (or expires in 15 min)
  await ex.ctx.usageWrites.write({ kind: "release", reservation }).catch(() => {});
}

/** Settles now when the answer is whole, or once its stream is over; answers the response to send. */
function settleWhenOver(ex: TenantExchange, forwarded: Forwarded, metered: Metered | undefined): Response {
  const { end } = forwarded;
  if (end instanceof Promise) void end.then((over) => settle(ex, over, metered));
  else settle(ex, end, metered);
  return forwarded.response;
}

/** 6. Settles (or releases) the reservation, records the usage, and ends the exchange (its log line and metrics). */
function settle(ex: TenantExchange, end: ForwardEnd, metered: Metered | undefined): void {
  const { ctx, runtime } = ex;
  const slug = runtime.config.slug;
  if (end.outcome === "body_too_large") {
    // answered 413; nothing reached the model
    if (metered?.reservation) void ctx.usageWrites.write({ kind: "release", reservation: metered.reservation }).catch(() => {});
    return ex.end(413, { reject_reason: "body_too_large" });
  }
  if (end.outcome === "upstream_auth") upstreamCredentialRefused(ex, end.upstreamStatus ?? 0);
  const detail = endDetail(end);
  if (metered?.budgetWarning) detail.budget_warning = metered.budgetWarning;
  if (!metered || !hasUsage(end.usage)) {
    // nothing was used (an error before the model ran, or no usage to read): give the estimate back
    if (end.usage.model) detail.model = end.usage.model;
    ex.end(end.status, detail);
    if (metered?.reservation) void ctx.usageWrites.write({ kind: "release", reservation: metered.reservation }).catch((e) => ex.writeFailed(e));
    return;
  }
  const { record, cost } = usageRecord(ex.requestId, end.upstreamRequestId, ex.started, metered.person, end.usage, metered.requestedModel, runtime.prices, ex.upstream);
  const writes = cacheWrites(end.usage);
  ctx.metrics.usage(slug, resolveModel(record.model, runtime.prices) ?? "unknown", {
    input: record.inputTokens,
    output: record.outputTokens,
    cache_write_5m: writes.fiveMinute,
    cache_write_1h: writes.oneHour,
    cache_read: record.cacheReadInputTokens,
  }, cost.usd);
  detail.model = record.model;
  detail.input_tokens = record.inputTokens;
  detail.output_tokens = record.outputTokens;
  detail.cache_creation_input_tokens = record.cacheCreationInputTokens;
  detail.cache_creation_5m_input_tokens = writes.fiveMinute;
  detail.cache_creation_1h_input_tokens = writes.oneHour;
  detail.cache_read_input_tokens = record.cacheReadInputTokens;
  if (record.webSearchRequests) detail.web_search_requests = record.webSearchRequests;
  if (cost.usd === null) detail.cost_unknown = true;
  else detail.cost_usd = cost.usd;
  ex.end(end.status, detail);
  const delta = metered.tokensPerMinute ? tokensOf(record) - metered.estimate.tokens : 0;
  // the store, or the spool when the store is down (state/resilient.ts): either way it is kept
  void ctx.usageWrites.write(metered.reservation ? { kind: "settle", reservation: metered.reservation, record } : { kind: "record", record }).then(
    () => {
      // budget alerts see the counters once the spend is in them
      if (runtime.alerts && metered.reservation) void observeAfterSettle(runtime.alerts, ctx.state, metered.person, metered.policyBudgets);
      // the per-minute window's correction is best effort: a window lasts a minute
      return delta !== 0 ? ctx.state.chargeTokens(metered.person, delta, { defaults: runtime.rateDefaults, ...(metered.policyLimits ? { extraLimits: metered.policyLimits } : {}) }).catch(() => {}) : undefined;
    },
    (e) => ex.writeFailed(e),
  );
}

/** How the forwarded answer ended, for the log line. */
function endDetail(end: ForwardEnd): LogDetail {
  const detail: LogDetail = { upstream_request_id: end.upstreamRequestId, completed: end.outcome === "completed" };
  if (end.ttfbMs !== undefined) detail.upstream_ttfb_ms = end.ttfbMs;
  if (end.outcome === "cancelled" || end.outcome === "failed") detail.outcome = end.outcome;
  if (end.outcome === "upstream_auth") {
    detail.level = "warn";
    detail.reject_reason = "upstream_auth";
    if (end.upstreamStatus !== undefined) detail.upstream_status = end.upstreamStatus;
  }
  return detail;
}

const lastCredentialWarning = new Map<string, number>();

/** The upstream refused the tenant's key: counted for alerts, and said on stderr at most once a minute per tenant with the fix. */
function upstreamCredentialRefused(ex: TenantExchange, status: number): void {
  const slug = ex.runtime.config.slug;
  ex.ctx.metrics.upstreamAuthFailures.inc({ tenant: slug, status: String(status) });
  const now = Date.now();
  if (now - (lastCredentialWarning.get(slug) ?? 0) < 60_000) return;
  lastCredentialWarning.set(slug, now);
  logEvent("warn", `the upstream refused tenant ${slug}'s API key (HTTP ${status}): requests are answered 502 upstream_auth until it is replaced; check the keys or AWS credentials of its upstreams (--upstreams, upstreamApiKeyFile)`, { tenant: slug, reject_reason: "upstream_auth", upstream_status: status });
}
