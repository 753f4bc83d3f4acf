/**
 * Bedrock's errors in the Anthropic API's shape, so clients (Claude Code's retry logic, the SDKs)
 * and the pool's failover read them as they read the Anthropic API's own. Bedrock names an error
 * in the `x-amzn-ErrorType` header (`ThrottlingException:http://internal.amazon.com/…`), or in
 * an event-stream exception frame (`:exception-type` = `throttlingException`).
 *  - capacity: throttling, quotas, a model not ready → 429 rate_limit_error; unavailable → 529
 *    overloaded_error; internal or model errors → 500, a model timeout → 504 (all retried on the
 *    next upstream);
 *  - the request: validation → 400 invalid_request_error, not found → 404;
 *  - this gateway's own AWS identity (access denied, bad or expired signature, unknown key) →
 *    401/403: the pool counts it as this upstream's failure and moves on.
 */
import { anthropicError, type AnthropicErrorType } from "../../http/errors.ts";

export interface MappedError {
  status: number;
  type: AnthropicErrorType;
}

const TABLE: Record<string, MappedError> = {
  throttlingexception: { status: 429, type: "rate_limit_error" },
  servicequotaexceededexception: { status: 429, type: "rate_limit_error" },
  modelnotreadyexception: { status: 429, type: "rate_limit_error" },
  serviceunavailableexception: { status: 529, type: "overloaded_error" },
  internalserverexception: { status: 500, type: "api_error" },
  modelerrorexception: { status: 500, type: "api_error" },
  modelstreamerrorexception: { status: 500, type: "api_error" },
  modeltimeoutexception: { status: 504, type: "api_error" },
  validationexception: { status: 400, type: "invalid_request_error" },
  resourcenotfoundexception: { status: 404, type: "not_found_error" },
  accessdeniedexception: { status: 403, type: "permission_error" },
  unrecognizedclientexception: { status: 401, type: "authentication_error" },
  invalidsignatureexception: { status: 401, type: "authentication_error" },
  incompletesignatureexception: { status: 401, type: "authentication_error" },
  expiredtokenexception: { status: 401, type: "authentication_error" },
  missingauthenticationtokenexception: { status: 401, type: "authentication_error" },
};

/** The error's name, without the `:namespace` suffix Bedrock's header carries. */
export function errorName(errorType: string | null | undefined): string {
  return (errorType ?? "").split(":")[0]!.trim();
}

/** These say the signing credentials are stale: fetch fresh ones and try once more. */
export function isStaleCredentials(name: string): boolean {
  return ["expiredtokenexception", "invalidsignatureexception"].includes(name.toLowerCase());
}

/** An error name (any case), or else Bedrock's HTTP status, as an Anthropic status and type. */
export function mapBedrockError(name: string, bedrockStatus: number): MappedError {
  const known = TABLE[name.toLowerCase()];
  if (known) return known;
  if (bedrockStatus === 429) return { status: 429, type: "rate_limit_error" };
  if (bedrockStatus === 401 || bedrockStatus === 403) return { status: bedrockStatus, type: bedrockStatus === 401 ? "authentication_error" : "permission_error" };
  if (bedrockStatus === 413) return { status: 413, type: "request_too_large" };
  if (bedrockStatus >= 400 && bedrockStatus < 500) return { status: 400, type: "invalid_request_error" };
  return { status: 502, type: "api_error" };
}

/** Bedrock's message from an error body (`{"message": …}` or `{"Message": …}`), bounded. */
export function messageOf(body: string): string | undefined {
  try {
    const json = JSON.parse(body) as { message?: unknown; Message?: unknown };
    const message = typeof json.message === "string" ? json.message : typeof json.Message === "string" ? json.Message : undefined;
    return message?.slice(0, 2000);
  } catch {
    return undefined;
  }
}

/** The Anthropic-shaped answer for an HTTP error from Bedrock. */
export function bedrockErrorResponse(bedrockStatus: number, errorType: string | null, body: string, requestId: string): Response {
  const name = errorName(errorType);
  const mapped = mapBedrockError(name, bedrockStatus);
  const message = `Amazon Bedrock: ${name || `HTTP ${bedrockStatus}`}: ${messageOf(body) ?? "no message"}`;
  return anthropicError(mapped.status, mapped.type, message, requestId);
}

/** The SSE `error` event the Anthropic API sends when a stream fails after it started. */
export function sseErrorEvent(type: AnthropicErrorType, message: string): string {
  return `event: error\ndata: ${JSON.stringify({ type: "error", error: { type, message } })}\n\n`;
}
