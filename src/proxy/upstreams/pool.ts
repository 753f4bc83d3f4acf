/**
 * A tenant's upstream pool: given one request (its body kept whole), tries the upstreams that
 * can serve it, in the routing's order, skipping those whose circuit is open, and returns the
 * first answer that is not the upstream's own failure, with where it was served and how many
 * attempts it took. Failover happens only here, before the answer is returned, so never after a
 * byte reached the client. When every upstream able to serve is open, they are tried anyway, in
 * order (Envoy's "panic" routing): a breaker decides where traffic goes, never that none goes.
 * Counters per upstream are kept here and read through `stats()` (the metrics wiring maps them).
 */
import { requestFacts } from "../accounting/estimate.ts";
import { anthropicError } from "../http/errors.ts";
import { CircuitBreaker, type CircuitState } from "./breaker.ts";
import { Deadlines, type Waiting } from "./deadlines.ts";
import type { RoutingConfig } from "./config.ts";
import { type AttemptOutcome, type FailureReason, verdictOf } from "./failover.ts";
import { attemptOrder } from "./selection.ts";
import type { BodyFacts, EventLogger, Upstream, UpstreamRequest, UpstreamType } from "./types.ts";

export interface PoolDeps {
  now(): number;
  /** In [0, 1): the weighted draw. */
  random(): number;
  /** The request-id of answers the pool gives itself. */
  newRequestId(): string;
  log: EventLogger;
}

export interface AttemptRecord {
  upstream: string;
  /** `served`, the failure's reason, or `cancelled`. */
  outcome: "served" | FailureReason | "cancelled";
  /** The upstream's status, when it answered. */
  status: number | undefined;
}

export interface PoolResult {
  /** Anthropic-shaped; its body not read yet. */
  response: Response;
  /** The upstream whose answer this is; null when the pool answers itself. */
  upstream: string | null;
  attempts: number;
  tried: AttemptRecord[];
  /** Set when the answer is a failure: the last upstream's reason, or the pool's own. */
  failure?: FailureReason | "no_upstream" | "cancelled";
}

export interface UpstreamStats {
  name: string;
  type: UpstreamType;
  /** Attempts sent to this upstream. */
  requests: number;
  /** Failed attempts by reason. */
  failures: Partial<Record<FailureReason, number>>;
  /** Requests that left this upstream for another after it failed them. */
  failovers: number;
  circuit: CircuitState;
}

interface Member {
  upstream: Upstream;
  weight: number;
  breaker: CircuitBreaker;
  stats: Omit<UpstreamStats, "circuit">;
}

type Attempt = { readonly outcome: AttemptOutcome; readonly response?: Response };

// the outcomes without a status are shared: an attempt allocates no more than it must
const CANCELLED: Attempt = { outcome: { kind: "cancelled" } };
const TIMED_OUT: Attempt = { outcome: { kind: "timeout" } };
const UNREACHABLE: Attempt = { outcome: { kind: "unreachable" } };

export class Pool {
  private readonly members: Member[];
  private readonly deadlines: Deadlines;

  constructor(
    upstreams: ReadonlyArray<{ upstream: Upstream; weight: number }>,
    private readonly routing: RoutingConfig,
    private readonly deps: PoolDeps,
  ) {
    const shortest = Math.min(routing.streamHeadTimeoutMs, routing.headTimeoutMs);
    // timers run on real time, whatever clock the breakers are given
    this.deadlines = new Deadlines(() => performance.now(), Math.max(5, Math.min(250, Math.floor(shortest / 10))));
    this.members = upstreams.map(({ upstream, weight }) => ({
      upstream,
      weight,
      breaker: new CircuitBreaker(routing.breaker, deps.now, (state, failures) => this.circuitChanged(upstream.name, state, failures)),
      stats: { name: upstream.name, type: upstream.type, requests: 0, failures: {}, failovers: 0 },
    }));
  }

  async send(request: UpstreamRequest): Promise<PoolResult> {
    const facts = this.factsOf(request);
    // usually every member can serve: no new array then
    const able = this.members.every((m) => m.upstream.supports(request, facts.model)) ? this.members : this.members.filter((m) => m.upstream.supports(request, facts.model));
    if (able.length === 0) return this.noUpstream(request, facts.model);
    const ordered = this.order(able, request);
    const open = ordered.every((m) => !m.breaker.available());
    const tried: AttemptRecord[] = [];
    let last: { member: Member; reason: FailureReason; response: Response | undefined } | undefined;
    for (const member of ordered) {
      if (tried.length >= this.routing.maxAttempts) break;
      if (!member.breaker.acquire(open)) continue;
      if (last) this.leave(last);
      member.stats.requests++;
      const attempt = await this.attempt(member.upstream, request, facts, tried.length === 0);
      const verdict = verdictOf(attempt.outcome);
      const record: AttemptRecord = { upstream: member.upstream.name, outcome: "served", status: attempt.response?.status };
      tried.push(record);
      if (verdict.action === "stop") {
        member.breaker.release();
        record.outcome = "cancelled";
        discard(attempt.response);
        return { response: anthropicError(499, "api_error", "the client closed the request", this.deps.newRequestId()), upstream: null, attempts: tried.length, tried, failure: "cancelled" };
      }
      if (verdict.action === "serve") {
        member.breaker.success();
        return { response: attempt.response as Response, upstream: member.upstream.name, attempts: tried.length, tried };
      }
      member.breaker.failure();
      member.stats.failures[verdict.reason] = (member.stats.failures[verdict.reason] ?? 0) + 1;
      record.outcome = verdict.reason;
      last = { member, reason: verdict.reason, response: attempt.response };
    }
    // the first member is always attempted (available, or forced when all are open)
    if (!last) throw new Error("upstream pool: no attempt was made");
    // the last upstream's own answer (its 529, its retry-after), or the pool's when it gave none
    const response = last.response ?? this.unreachable(last.reason, tried);
    return { response, upstream: last.response ? last.member.upstream.name : null, attempts: tried.length, tried, failure: last.reason };
  }

  /** Per-upstream counters, read when metrics are collected. */
  stats(): UpstreamStats[] {
    return this.members.map((m) => ({ ...m.stats, failures: { ...m.stats.failures }, circuit: m.breaker.state() }));
  }

  /** The Anthropic model ids the pool's members announce (Bedrock members know theirs). */
  models(): string[] {
    return [...new Set(this.members.flatMap((m) => m.upstream.models?.() ?? []))];
  }

  /** SIGHUP: every member re-reads its key or credentials. */
  async reload(): Promise<void> {
    await Promise.all(this.members.map((m) => m.upstream.reload?.()));
  }

  close(): void {
    this.deadlines.stop();
    for (const m of this.members) m.upstream.close?.();
  }

  private factsOf(request: UpstreamRequest): BodyFacts {
    if (request.facts) return request.facts;
    if (!request.body || request.route === "models") return {};
    const { model, stream } = requestFacts(request.body, request.body.byteLength);
    return { model, stream };
  }

  private order(able: Member[], request: UpstreamRequest): readonly Member[] {
    const ordered = attemptOrder(able, this.routing.strategy, this.deps.random);
    // token counting goes to Bedrock's CountTokens only when no Anthropic upstream can answer;
    // the model list too, as an Anthropic upstream lists every model the pool can serve (a
    // Bedrock member lists only its own)
    if (request.route !== "count_tokens" && request.route !== "models") return ordered;
    return [...ordered.filter((m) => m.upstream.type === "anthropic"), ...ordered.filter((m) => m.upstream.type !== "anthropic")];
  }

  /**
   * One attempt, bounded by the head timeout. Its own controller is aborted by the deadline, or
   * (at the deadline's next tick) once the client went away; after the head, the request path's
   * relay cancels the body when the client goes. A retry first checks the client is still there;
   * the first attempt leaves that to the tick (on the request path, reading the client's signal
   * makes it, a cost every request would pay).
   */
  private async attempt(upstream: Upstream, request: UpstreamRequest, facts: BodyFacts, first: boolean): Promise<Attempt> {
    if (!first && request.signal.aborted) return CANCELLED;
    const timeoutMs = facts.stream ? this.routing.streamHeadTimeoutMs : this.routing.headTimeoutMs;
    const waiting = new HeadDeadline(this.deadlines.deadlineIn(timeoutMs), request, upstream.name, timeoutMs);
    this.deadlines.add(waiting);
    let response: Response;
    try {
      response = await upstream.send(request, facts.model, waiting.controller.signal);
    } catch {
      this.deadlines.remove(waiting);
      if (request.signal.aborted) return CANCELLED;
      return waiting.timedOut ? TIMED_OUT : UNREACHABLE;
    }
    this.deadlines.remove(waiting);
    if (!waiting.controller.signal.aborted) return { outcome: { kind: "response", status: response.status }, response };
    discard(response); // the head came as the attempt was given up: not used
    return waiting.timedOut ? TIMED_OUT : CANCELLED;
  }

  /** Moving on from a failed upstream: its answer is not used, the move is counted. */
  private leave(last: { member: Member; response: Response | undefined }): void {
    last.member.stats.failovers++;
    discard(last.response);
    last.response = undefined;
  }

  private noUpstream(request: UpstreamRequest, model: string | undefined): PoolResult {
    const what = request.route === "models" ? "model listings" : model === undefined ? "this request" : `the model ${JSON.stringify(model.slice(0, 128))}`;
    const response = anthropicError(404, "not_found_error", `no upstream of this tenant serves ${what}`, this.deps.newRequestId());
    return { response, upstream: null, attempts: 0, tried: [], failure: "no_upstream" };
  }

  private unreachable(reason: FailureReason, tried: AttemptRecord[]): Response {
    const names = [...new Set(tried.map((t) => t.upstream))].join(", ");
    return reason === "timeout"
      ? anthropicError(504, "api_error", `no upstream answered in time (tried ${names})`, this.deps.newRequestId())
      : anthropicError(502, "api_error", `the tenant proxy could not reach its upstreams (tried ${names})`, this.deps.newRequestId());
  }

  private circuitChanged(name: string, state: CircuitState, failures: number): void {
    const seconds = Math.round(this.routing.breaker.openMs / 1000);
    if (state === "open") this.deps.log("warn", `upstream ${name}: circuit open after ${failures} consecutive failures; skipped for ${seconds} s, then probed with one request`, { upstream: name, circuit: state });
    else if (state === "closed") this.deps.log("info", `upstream ${name}: circuit closed, the upstream answers again`, { upstream: name, circuit: state });
  }
}

/** One attempt's wait for its head: one object (no closures), its controller aborted at the deadline or when the client went away. */
class HeadDeadline implements Waiting {
  readonly controller = new AbortController();
  timedOut = false;

  constructor(
    readonly at: number,
    public client: UpstreamRequest | null,
    private readonly upstream: string,
    private readonly timeoutMs: number,
  ) {}

  expire(reason: "timeout" | "cancelled"): void {
    this.timedOut = reason === "timeout";
    this.controller.abort(this.timedOut ? new Error(`no answer from upstream ${this.upstream} within ${this.timeoutMs} ms`) : this.client?.signal.reason);
  }
}

/** An answer not passed on: its connection is released. */
function discard(response: Response | undefined): void {
  void response?.body?.cancel().catch(() => {});
}
