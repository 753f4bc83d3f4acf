/**
 * Every failure of a call to the tenant gateway (`/_gateway/...`) as one typed error: a `code`
 * callers branch on (never the message), the `cause`, the HTTP status when there was one, and
 * the exit code of the CLI's table (a CliError, so today's main.ts prints message + hint).
 */
import { CliError, ExitCode } from "../errors.ts";
import { ResponseTooLarge } from "../oauth/bounded-fetch.ts";
import { EndpointPolicyError } from "../../shared/endpoint-policy.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";

export type GatewayErrorCode =
  /** 401: no, expired, revoked or wrong credential. Exit 1. */
  | "unauthenticated"
  /** 403 on the admin API: a valid token outside the tenant's admin groups. Exit 1. */
  | "not_admin"
  /** 403 elsewhere (e.g. the tenant admits only some groups). Exit 1. */
  | "forbidden"
  /** 404/405 on a gateway path: the tenant runs a proxy without this API. Exit 3. */
  | "no_gateway_api"
  /** 400: the gateway refused the input (its words shown). Exit 2. */
  | "rejected_input"
  /** 429, 503 (state store down) or 5xx. Exit 3. */
  | "unavailable"
  /** Not the documented JSON shape, or an unexpected status. Exit 3. */
  | "bad_response"
  | "response_too_large"
  | "timeout"
  /** Connection refused, DNS, TLS. Exit 3. */
  | "unreachable"
  /** The URL is refused by the endpoint policy (e.g. plain http off loopback). Exit 5. */
  | "endpoint_policy"
  /** The admin key file is missing, unreadable, unsafe or malformed. Exit 5. */
  | "admin_key_file";

const EXIT: Record<GatewayErrorCode, ExitCode> = {
  unauthenticated: ExitCode.authRequired,
  not_admin: ExitCode.authRequired,
  forbidden: ExitCode.authRequired,
  no_gateway_api: ExitCode.idpUnavailable,
  rejected_input: ExitCode.usage,
  unavailable: ExitCode.idpUnavailable,
  bad_response: ExitCode.idpUnavailable,
  response_too_large: ExitCode.idpUnavailable,
  timeout: ExitCode.idpUnavailable,
  unreachable: ExitCode.idpUnavailable,
  endpoint_policy: ExitCode.config,
  admin_key_file: ExitCode.config,
};

export class GatewayError extends CliError {
  override readonly name = "GatewayError";
  readonly status: number | undefined;
  /** From `retry-after` on 429/503, in seconds. */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    hint?: string,
    options: { cause?: unknown; status?: number; retryAfterSeconds?: number } = {},
  ) {
    super(EXIT[code], message, hint);
    this.cause = options.cause;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** How the request was authenticated: decides what a 401 tells the person to do. */
export type CredentialKind = "token" | "admin_key";

export interface FailureContext {
  /** What was being done, for the message: "end the session at the gateway", "read your usage". */
  action: string;
  url: string;
  credential: CredentialKind;
  /** Admin API (403 means: not in the admin group). */
  admin: boolean;
  /** The command to sign in again ("agent-runner-auth login [--profile P]"). */
  loginCommand: string;
  timeoutMs: number;
}

const hostOf = (url: string) => sanitizeForTerminal(URL.canParse(url) ? new URL(url).host : url);

/** The gateway's own words from an Anthropic-shaped error body, one line, at most 300 characters. */
export function gatewayMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    const message = parsed?.error?.message;
    if (typeof message !== "string" || message === "") return undefined;
    const line = sanitizeForTerminal(message);
    return line.length > 300 ? `${line.slice(0, 297)}...` : line;
  } catch {
    return undefined;
  }
}

function retryAfter(response: Response): number | undefined {
  const value = Number(response.headers.get("retry-after"));
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Maps a non-2xx answer of the gateway to a GatewayError. */
export function failureFromResponse(response: Response, body: string, c: FailureContext): GatewayError {
  const host = hostOf(c.url);
  const status = response.status;
  const said = gatewayMessage(body);
  const theirWords = said ? `: ${said}` : "";
  const opts = { status, retryAfterSeconds: retryAfter(response) };
  if (status === 401) {
    return c.credential === "admin_key"
      ? new GatewayError("unauthenticated", `the gateway at ${host} refused the admin key (HTTP 401) when asked to ${c.action}${theirWords}`, "Check --admin-key-file: it must hold the same key as the proxy's --admin-key-file.", opts)
      : new GatewayError("unauthenticated", `the gateway at ${host} refused your access token (HTTP 401) when asked to ${c.action}${theirWords}`, `Sign in again: ${c.loginCommand}`, opts);
  }
  if (status === 403) {
    return c.admin
      ? new GatewayError(
          "not_admin",
          `you are not in the admin group of the tenant at ${host}, so you cannot ${c.action}${theirWords}`,
          `Ask an administrator to add you to that group, then sign in again (${c.loginCommand}) so your token carries it; automation can use --admin-key-file.`,
          opts,
        )
      : new GatewayError("forbidden", `the gateway at ${host} refused to ${c.action} (HTTP 403)${theirWords}`, undefined, opts);
  }
  if (status === 404 || status === 405) {
    const what = c.admin ? "has no admin API" : "does not offer this";
    return new GatewayError("no_gateway_api", `the tenant's gateway at ${host} ${what} (HTTP ${status} when asked to ${c.action}): it runs an older proxy`, "Ask the tenant's operator to upgrade the proxy (docs/proxy.md, 'Endpoints outside /anthropic/').", opts);
  }
  if (status === 400) return new GatewayError("rejected_input", `the gateway at ${host} refused the request to ${c.action}${theirWords}`, undefined, opts);
  if (status === 429 || status === 503 || status >= 500) {
    const wait = opts.retryAfterSeconds !== undefined ? `Try again in ${Math.max(1, Math.ceil(opts.retryAfterSeconds))} s.` : "Try again in a minute.";
    return new GatewayError("unavailable", `the gateway at ${host} could not ${c.action} (HTTP ${status})${theirWords}`, wait, opts);
  }
  return new GatewayError("bad_response", `the gateway at ${host} answered HTTP ${status} when asked to ${c.action}${theirWords}`, undefined, opts);
}

/** Maps a thrown error (network, TLS, deadline, size cap, endpoint policy) to a GatewayError. */
export function failureFromError(error: unknown, c: FailureContext): GatewayError {
  if (error instanceof GatewayError) return error;
  const host = hostOf(c.url);
  if (error instanceof EndpointPolicyError) {
    return new GatewayError("endpoint_policy", `refusing to ${c.action}: ${sanitizeForTerminal(error.message)}`, "The tenant URL must be https:// (plain http only to this machine); check the profile (agent-runner-auth login TENANT_URL).", { cause: error });
  }
  if (error instanceof ResponseTooLarge) {
    return new GatewayError("response_too_large", `the gateway at ${host} sent too large a response (over ${Math.round(error.limitBytes / 1024)} KiB) when asked to ${c.action}`, "The gateway is misbehaving; tell the tenant's operator.", { cause: error });
  }
  const e = error as (Error & { code?: string }) | undefined;
  if (e?.name === "TimeoutError" || e?.name === "AbortError") {
    return new GatewayError("timeout", `the gateway at ${host} did not answer within ${c.timeoutMs / 1000} s (${c.action})`, "Check your network or VPN and try again.", { cause: error });
  }
  if (/certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_|SSL|TLS/i.test(`${e?.message} ${e?.code}`)) {
    return new GatewayError("unreachable", `the TLS certificate of ${host} is not trusted (${c.action}): ${sanitizeForTerminal(e?.message)}`, "A TLS-inspecting proxy? Pass --ca-file with your organisation's CA bundle (or point NODE_EXTRA_CA_CERTS or SSL_CERT_FILE at it).", { cause: error });
  }
  return new GatewayError("unreachable", `cannot reach the gateway at ${host} (${c.action}): ${sanitizeForTerminal(e?.message ?? String(error))}`, "Check your network, VPN or HTTPS_PROXY settings and try again.", { cause: error });
}
