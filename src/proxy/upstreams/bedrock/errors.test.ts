import { expect, test } from "bun:test";
import { bedrockErrorResponse, errorName, isStaleCredentials, mapBedrockError } from "./errors.ts";

test("Bedrock's error types as Anthropic statuses and types", () => {
  const cases: Array<[string, number, number, string]> = [
    ["ThrottlingException", 429, 429, "rate_limit_error"],
    ["ServiceQuotaExceededException", 400, 429, "rate_limit_error"],
    ["ModelNotReadyException", 429, 429, "rate_limit_error"],
    ["ServiceUnavailableException", 503, 529, "overloaded_error"],
    ["InternalServerException", 500, 500, "api_error"],
    ["ModelErrorException", 424, 500, "api_error"],
    ["ModelTimeoutException", 408, 504, "api_error"],
    ["ValidationException", 400, 400, "invalid_request_error"],
    ["ResourceNotFoundException", 404, 404, "not_found_error"],
    ["AccessDeniedException", 403, 403, "permission_error"],
    ["ExpiredTokenException", 403, 401, "authentication_error"],
    ["UnrecognizedClientException", 403, 401, "authentication_error"],
    ["throttlingException", 200, 429, "rate_limit_error"], // stream exception frames are lowerCamel
  ];
  for (const [name, from, status, type] of cases) expect(mapBedrockError(name, from)).toEqual({ status, type } as never);
  expect(mapBedrockError("", 429)).toEqual({ status: 429, type: "rate_limit_error" });
  expect(mapBedrockError("SomethingNew", 418)).toEqual({ status: 400, type: "invalid_request_error" });
  expect(mapBedrockError("", 503)).toEqual({ status: 502, type: "api_error" });
});

test("the header's namespace suffix is dropped; stale credentials are recognised", () => {
  expect(errorName("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/")).toBe("ThrottlingException");
  expect(errorName(null)).toBe("");
  expect(isStaleCredentials("ExpiredTokenException")).toBe(true);
  expect(isStaleCredentials("InvalidSignatureException")).toBe(true);
  expect(isStaleCredentials("AccessDeniedException")).toBe(false);
});

test("an HTTP error from Bedrock in the Anthropic shape, its message kept", async () => {
  const response = bedrockErrorResponse(429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", '{"message":"Too many requests, please wait before trying again."}', "b7c0-req");
  expect(response.status).toBe(429);
  expect(response.headers.get("request-id")).toBe("b7c0-req");
  expect(await response.json()).toEqual({ type: "error", error: { type: "rate_limit_error", message: "Amazon Bedrock: ThrottlingException: Too many requests, please wait before trying again." }, request_id: "b7c0-req" });
  expect(await bedrockErrorResponse(500, null, "<html>", "r").json()).toMatchObject({ error: { type: "api_error", message: "Amazon Bedrock: HTTP 500: no message" } });
});
