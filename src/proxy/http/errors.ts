/** Errors in the Anthropic API's shape, so Claude Code's retry and re-auth logic reads them right. */

export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

export function anthropicError(status: number, type: AnthropicErrorType, message: string, requestId: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: "error", error: { type, message }, request_id: requestId }), {
    status,
    headers: { "content-type": "application/json", "request-id": requestId, ...headers },
  });
}
