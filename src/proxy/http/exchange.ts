/**
 * One request to the gateway, from its arrival to the end of its answer: the request, when it
 * started, the tenant it is for and the route, its request id, and who is asking once that is
 * known. Every answer the gateway gives itself goes through it (refuse, unauthorized, tooLarge:
 * Anthropic-shaped, through the one table of errors.ts, with `x-agent-runner-reason`), and `end`
 * alone writes the request's log line and its metrics, for the API, the admin API, logout and
 * usage alike. One object per request, no closures: the hot path allocates nothing more for it.
 */
import type { TokenRejected, VerifiedUser } from "../auth/verify.ts";
import type { Person } from "../model/person.ts";
import type { LogLine } from "../telemetry/log.ts";
import { DISCOVERY_PATH } from "../../shared/tenant-discovery.ts";
import type { ProxyContext, TenantRuntime } from "./context.ts";
import { bodyTooLarge, GatewayRefusal, type RefusalCode, refusalResponse } from "./errors.ts";

/** What a request's log line says beyond who, what and when (the exchange writes those). */
export type LogDetail = Partial<Omit<LogLine, "time" | "tenant" | "method" | "route" | "status" | "duration_ms">>;

/** An exchange whose Host named a tenant: every endpoint past the dispatch sees one. */
export type TenantExchange = Exchange & { readonly runtime: TenantRuntime };

export class Exchange {
  /** The tenant, once the Host named one. */
  runtime: TenantRuntime | undefined = undefined;
  /** The tenant's public base URL (the 401 challenge names its discovery document). */
  base = "";
  /** The route label of the log line and the metrics (bounded): "other" until the path names one. */
  route = "other";
  /** The credential the request carried (extractToken), once authenticate read it: read once per request. */
  token: string | null = null;
  /** Who is asking, once the token is verified. */
  user: VerifiedUser | undefined = undefined;
  person: Person | undefined = undefined;
  /** Who called the admin API with the admin key (no person), for the log. */
  caller: string | undefined = undefined;
  /** The upstream that answered (a pool member's name) and how many were tried; unset with the tenant's one upstream. */
  upstream: string | undefined = undefined;
  attempts = 0;
  private id: string | undefined = undefined;
  private line: LogLine | undefined = undefined;

  constructor(
    readonly ctx: ProxyContext,
    readonly request: Request,
    /** Epoch ms. */
    readonly started: number,
  ) {}

  /** From here on the request is the tenant's. */
  forTenant(runtime: TenantRuntime, base: string): TenantExchange {
    this.runtime = runtime;
    this.base = base;
    return this as TenantExchange;
  }

  /** The gateway's id of this request: the ledger's key, the `request-id` of every answer it gives itself, the log's `request_id`. */
  get requestId(): string {
    return (this.id ??= this.ctx.newRequestId());
  }

  /** The refusal as the API's error, with this request's id; not logged (the caller ends the exchange). */
  answer(refusal: GatewayRefusal): Response {
    return refusalResponse(refusal, this.requestId);
  }

  /** Refuses the request: logged with its reason, counted, answered in the API's error shape. */
  refuse(refusal: GatewayRefusal): Response {
    this.end(refusal.status, { reject_reason: refusal.logReason });
    return this.answer(refusal);
  }

  /** 401 with the RFC 9728 challenge, or 403 for a missing group; counted by the finer reason. */
  unauthorized(rejected: TokenRejected): Response {
    this.ctx.metrics.verificationFailures.inc({ tenant: this.runtime?.config.slug ?? "unknown", reason: rejected.reason });
    const code = refusalCodeOf(rejected);
    // a missing group (403) is not a credential problem: no challenge
    const headers: Record<string, string> =
      code === "group_required" ? {} : { "www-authenticate": `Bearer error="invalid_token", error_description="${rejected.message.replace(/["\\]/g, "'")}", resource_metadata="${this.base}${DISCOVERY_PATH}"` };
    return this.refuse(new GatewayRefusal(code, rejected.message, { headers, logReason: rejected.reason, cause: rejected }));
  }

  /** 413: the body is over the proxy's limit. */
  tooLarge(): Response {
    return this.refuse(bodyTooLarge(this.ctx.maxBodyBytes));
  }

  /**
   * The request is over (answered, or its stream ended): its one log line and its metrics (count,
   * duration, time to the upstream's first byte). Only the first call counts.
   */
  end(status: number, detail?: LogDetail): void {
    if (this.line !== undefined) return;
    const duration = Date.now() - this.started;
    const tenant = this.runtime?.config.slug ?? null;
    const line: LogLine = { time: isoTime(this.started), tenant, method: this.request.method, route: this.route, status, duration_ms: duration };
    const person = this.person;
    if (person) {
      line.sub = person.sub;
      if (person.username) line.username = person.username;
      line.display_name = person.displayName;
      line.groups = person.groups;
    } else if (this.caller !== undefined) {
      line.username = this.caller;
    }
    line.request_id = this.requestId;
    if (this.upstream !== undefined) {
      line.upstream = this.upstream;
      line.attempts = this.attempts;
    }
    if (detail) Object.assign(line, detail);
    this.line = line;
    const metrics = this.ctx.metrics;
    const label = tenant ?? "unknown";
    metrics.request(label, this.route, status);
    metrics.duration(label, this.route, duration / 1000);
    if (line.upstream_ttfb_ms !== undefined) metrics.upstreamTtfb(label, this.route, line.upstream_ttfb_ms / 1000);
    this.ctx.log(line);
  }

  /** Neither the store nor the spool took this request's usage write: its line again, carrying the usage and why. */
  writeFailed(error: unknown): void {
    this.ctx.metrics.stateEvents.inc({ event: "write_failed", policy: "" });
    if (this.line) this.ctx.log({ ...this.line, state_error: (error as Error).message });
  }
}

/** The last start time formatted: requests that start in the same millisecond (many, under load) share it. */
let lastTime = { ms: Number.NaN, iso: "" };

function isoTime(ms: number): string {
  if (ms !== lastTime.ms) lastTime = { ms, iso: new Date(ms).toISOString() };
  return lastTime.iso;
}

/** The refusal code of a rejected token (the log keeps the finer reason). */
export function refusalCodeOf(rejected: TokenRejected): RefusalCode {
  switch (rejected.reason) {
    case "missing":
      return "token_missing";
    case "expired":
      return "token_expired";
    case "group":
      return "group_required";
    case "person_revoked":
    case "session_revoked":
      return rejected.reason;
    default:
      return "token_invalid";
  }
}
