/**
 * `doctor`'s checks of the gateway itself with the user's token (issue 11, section 5): the HEAD
 * probe Claude Code sends at start, a bad token answered 401 with WWW-Authenticate, count_tokens
 * (free), and with --deep a one-token streamed request that must arrive in pieces. Each result is
 * one line with its fix. Also where this runs (container, SSH: which sign-in works) and Claude
 * Desktop's configuration when there is a library.
 */
import type { CommandContext } from "../../context.ts";
import type { Check } from "./check.ts";
import type { Profile } from "../../config.ts";
import type { TimedRead } from "../../oauth/bounded-fetch.ts";

/** A streamed POST read piece by piece (bounded-fetch.ts's timedReads in the real process). */
export type StreamProbe = (url: string, init: RequestInit) => Promise<{ status: number; reads: TimedRead[]; text: string }>;

/** Reads closer than this belong to one piece (one network burst). */
export const PIECE_GAP_MS = 20;

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
    if (typeof counted === "number") checks.push({ name: "count_tokens", verdict: "pass", detail: `POST /v1/messages/count_tokens with your token: ${counted} input tokens (free)` });
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
    const n = pieces(r.reads);
    const span = r.reads.length > 0 ? Math.round(r.reads.at(-1)!.atMs - r.reads[0]!.atMs) : 0;
    if (r.status !== 200) checks.push({ name: "streaming", verdict: "fail", detail: `the streamed request answered ${errorText(r.status, r.text)}` });
    else if (!r.text.includes("message_stop")) checks.push({ name: "streaming", verdict: "fail", detail: "the stream ended without message_stop (cut off on the way)", fix: "Check the timeouts of proxies between you and the gateway" });
    else if (n < 2) checks.push({ name: "streaming", verdict: "fail", detail: `the streamed answer arrived in one piece (${r.reads.length} read(s) within ${span} ms): something between here and the gateway buffers responses, so Claude Code shows nothing until the end`, fix: "Turn off response buffering for the gateway in the proxy in front of it (nginx: proxy_buffering off), or bypass that proxy (NO_PROXY)" });
    else checks.push({ name: "streaming", verdict: "pass", detail: `the one-token streamed answer arrived in ${n} pieces over ${span} ms` });
  } catch (e) {
    checks.push({ name: "streaming", verdict: "fail", detail: (e as Error).message });
  }
  return checks;
}
