/**
 * `doctor`'s checks of the gateway itself with the user's token (issue 11, section 5): the HEAD
 * probe Claude Code sends at start, a bad token answered 401 with WWW-Authenticate, count_tokens
 * (free), and with --deep a one-token streamed request that must not be held back on the way
 * (streamingCheck: in pieces, or short and whole at once). Each result is
 * one line with its fix. Also where this runs (container, SSH: which sign-in works) and Claude
 * Desktop's configuration when there is a library.
 */
import type { CommandContext } from "../../context.ts";
import type { Check } from "./check.ts";
import type { Profile } from "../../config.ts";
import type { TimedRead } from "../../oauth/bounded-fetch.ts";
import { gatewayReason } from "../../../shared/gateway-reasons.ts";

/** What the streamed request showed: when its headers and each read of its body arrived (ms since it was sent). */
export interface StreamResult {
  status: number;
  reads: TimedRead[];
  text: string;
  /** When the response headers arrived; unknown: taken to have come with the body. */
  headersAtMs?: number;
  headers?: Headers;
}

/** A streamed POST read piece by piece (bounded-fetch.ts's timedReads in the real process). */
export type StreamProbe = (url: string, init: RequestInit) => Promise<StreamResult>;

/** Reads closer than this belong to one piece (one network burst). */
export const PIECE_GAP_MS = 20;

/**
 * A one-piece answer complete within this of the request was short: it comes at once whether or
 * not anything buffers, and nobody waited for it. Later than this, one piece means it was held.
 */
export const SHORT_ANSWER_MS = 1000;

/** How many pieces, bursts of reads separated by at least PIECE_GAP_MS, a stream arrived in. */
export function pieces(reads: readonly TimedRead[]): number {
  let count = 0;
  let last = -Infinity;
  for (const r of reads) {
    if (r.atMs - last >= PIECE_GAP_MS) count++;
    last = r.atMs;
  }
  return count;
}

const VERSION_HEADER = { "anthropic-version": "2023-06-01" };

/**
 * A refusal the gateway explained (its `x-agent-runner-reason`) that changes whose problem it is
 * and what fixes it; undefined for the others (their message says enough).
 */
export function refusalAdvice(headers: Headers, loginCommand = "agent-runner-auth login"): { detail: string; fix: string } | undefined {
  switch (gatewayReason(headers)) {
    case "upstream_auth":
      return {
        detail: "the Anthropic API refused the gateway's own credential (the tenant's API key): this is the gateway's problem, not your sign-in",
        fix: "Tell the gateway's operator: the upstream refused the tenant's API key (its --upstream-key-file; metric proxy_upstream_auth_failures_total). Signing in again will not help",
      };
    case "person_revoked":
      return { detail: "an administrator of the tenant withdrew your access to the gateway", fix: "Ask your tenant's administrator; signing in again will not help" };
    case "session_revoked":
      return { detail: "this sign-in was ended at the gateway (signed out)", fix: loginCommand };
    default:
      return undefined;
  }
}

function errorText(status: number, body: string): string {
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === "string") return `${status}: ${message.slice(0, 200)}`;
  } catch {}
  return String(status);
}

export async function gatewayChecks(ctx: Pick<CommandContext, "oauth" | "now">, profile: Profile, base: string, token: string, model: string, deep: boolean, stream: StreamProbe): Promise<Check[]> {
  const checks: Check[] = [];
  const bearer = { authorization: `Bearer ${token}` };

  try {
    const r = await ctx.oauth.fetch(base, { method: "HEAD" }, profile);
    checks.push(r.status < 400 ? { name: "gateway probe", verdict: "pass", detail: `HEAD ${base}: ${r.status} (Claude Code's start-up probe)` } : { name: "gateway probe", verdict: "fail", detail: `HEAD ${base} answered ${r.status}; Claude Code probes it at start`, fix: "Ask the gateway's operator: HEAD on the base URL must answer 2xx without credentials" });
  } catch (e) {
    checks.push({ name: "gateway probe", verdict: "fail", detail: `HEAD ${base}: ${(e as Error).message}`, fix: "Check your network, VPN, HTTPS_PROXY/NO_PROXY and --ca-file" });
  }

  try {
    const r = await ctx.oauth.fetch(`${base}/v1/models`, { headers: { ...VERSION_HEADER, authorization: "Bearer agent-runner-auth-doctor-not-a-token" } }, profile);
    const challenge = r.headers.get("www-authenticate") ?? "";
    if (r.status === 401 && /^Bearer\b/i.test(challenge)) checks.push({ name: "gateway auth", verdict: "pass", detail: "a bad token is refused: 401 with WWW-Authenticate: Bearer" });
    else if (r.status === 401) checks.push({ name: "gateway auth", verdict: "warn", detail: "a bad token is refused with 401 but without WWW-Authenticate: Bearer (something in between drops it)", fix: "Let the WWW-Authenticate header through the proxy in front of the gateway" });
    else checks.push({ name: "gateway auth", verdict: "fail", detail: `a bad token got ${r.status}, not 401: this is not the tenant's gateway, or it does not check tokens`, fix: "Check ANTHROPIC_BASE_URL and the tenant URL (agent-runner-auth status)" });
  } catch (e) {
    checks.push({ name: "gateway auth", verdict: "fail", detail: (e as Error).message });
  }

  const body = (extra: Record<string, unknown>) => JSON.stringify({ model, messages: [{ role: "user", content: "ping" }], ...extra });
  try {
    const r = await ctx.oauth.fetch(`${base}/v1/messages/count_tokens`, { method: "POST", headers: { ...VERSION_HEADER, ...bearer, "content-type": "application/json" }, body: body({}) }, profile);
    const text = await r.text();
    const counted = r.ok ? (JSON.parse(text) as { input_tokens?: unknown }).input_tokens : undefined;
    const advice = refusalAdvice(r.headers);
    if (typeof counted === "number") checks.push({ name: "count_tokens", verdict: "pass", detail: `POST /v1/messages/count_tokens with your token: ${counted} input tokens (free)` });
    else if (advice) checks.push({ name: "count_tokens", verdict: "fail", detail: `POST /v1/messages/count_tokens answered ${r.status}: ${advice.detail}`, fix: advice.fix });
    else checks.push({ name: "count_tokens", verdict: "fail", detail: `POST /v1/messages/count_tokens answered ${errorText(r.status, text)}`, fix: r.status === 401 ? "agent-runner-auth login" : r.status === 403 ? "Ask your tenant's administrator for access to the model API" : "Ask the gateway's operator (count_tokens must be allowed)" });
  } catch (e) {
    checks.push({ name: "count_tokens", verdict: "fail", detail: (e as Error).message });
  }

  if (!deep) {
    checks.push({ name: "streaming", verdict: "skip", detail: "run doctor --deep to send a one-token streamed request (it spends one output token)" });
    return checks;
  }
  try {
    const r = await stream(`${base}/v1/messages`, { method: "POST", headers: { ...VERSION_HEADER, ...bearer, "content-type": "application/json", accept: "text/event-stream" }, body: body({ max_tokens: 1, stream: true }) });
    checks.push(streamingCheck(r));
  } catch (e) {
    checks.push({ name: "streaming", verdict: "fail", detail: (e as Error).message });
  }
  return checks;
}

const BUFFERING_FIX = "Turn off response buffering for the gateway in the proxy in front of it (nginx: proxy_buffering off), or bypass that proxy (NO_PROXY)";

/**
 * The verdict on `--deep`'s one-token stream. In pieces: it streams. In one piece, two causes
 * look alike and are told apart by time: a short answer sent at once arrives whole soon after
 * the request (nothing waited); small events held back by a buffer arrive whole, headers
 * included, only at the end. A compressed event stream is named: compressing proxies hold events.
 */
export function streamingCheck(r: StreamResult): Check {
  const advice = r.status !== 200 && r.headers ? refusalAdvice(r.headers) : undefined;
  if (advice) return { name: "streaming", verdict: "fail", detail: `the streamed request answered ${r.status}: ${advice.detail}`, fix: advice.fix };
  if (r.status !== 200) return { name: "streaming", verdict: "fail", detail: `the streamed request answered ${errorText(r.status, r.text)}` };
  if (!r.text.includes("message_stop")) return { name: "streaming", verdict: "fail", detail: "the stream ended without message_stop (cut off on the way)", fix: "Check the timeouts of proxies between you and the gateway" };
  const n = pieces(r.reads);
  const first = r.reads[0]?.atMs ?? 0;
  const whole = Math.round(r.reads.at(-1)?.atMs ?? 0);
  if (n >= 2) return { name: "streaming", verdict: "pass", detail: `the one-token streamed answer arrived in ${n} pieces over ${Math.round((r.reads.at(-1)?.atMs ?? 0) - first)} ms` };
  const encoding = r.headers?.get("content-encoding");
  const compressed = encoding && encoding !== "identity" ? encoding : undefined;
  if (whole < SHORT_ANSWER_MS) {
    if (compressed) {
      return { name: "streaming", verdict: "warn", detail: `the one-token answer was short (whole ${whole} ms after the request), so it cannot show buffering; but it came compressed (content-encoding: ${compressed}) by something on the way, and a proxy that compresses an event stream holds small events until its buffer fills`, fix: "Turn off compression for text/event-stream in the proxy in front of the gateway (nginx: gzip off), or bypass that proxy (NO_PROXY)" };
    }
    return { name: "streaming", verdict: "pass", detail: `the one-token answer was short: it arrived whole ${whole} ms after the request, in one piece as a short answer sent at once does (nothing was held back)` };
  }
  const headersWithBody = r.headersAtMs === undefined || first - r.headersAtMs < PIECE_GAP_MS;
  if (headersWithBody || compressed) {
    return {
      name: "streaming",
      verdict: "fail",
      detail: `the streamed answer arrived in one piece, ${headersWithBody ? "headers and all, " : ""}only ${whole} ms after the request${compressed ? `, compressed (content-encoding: ${compressed})` : ""}: small events were held back on the way (something between here and the gateway buffers responses), so Claude Code shows nothing until the end`,
      fix: BUFFERING_FIX,
    };
  }
  return {
    name: "streaming",
    verdict: "warn",
    detail: `the answer's headers came ${Math.round(r.headersAtMs ?? 0)} ms after the request but its events all at once at ${whole} ms: either the upstream sent this one-token answer in one go (nothing wrong) or something between here and the gateway holds the body back`,
    fix: `If Claude Code shows answers only once they are complete: ${BUFFERING_FIX[0]!.toLowerCase()}${BUFFERING_FIX.slice(1)}`,
  };
}
