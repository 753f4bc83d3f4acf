import { expect, test } from "bun:test";
import { DEFAULT_BEDROCK_MODELS } from "./models.ts";
import { bedrockBetas, countTokensBody, invokeBody, modelPath, NotAMessagesBody } from "./request.ts";

const accepted = new Set(DEFAULT_BEDROCK_MODELS.betas);
const enc = (o: unknown) => new TextEncoder().encode(typeof o === "string" ? o : JSON.stringify(o));

test("the body without model and stream, with Bedrock's anthropic_version; everything else as sent", () => {
  const body = { model: "claude-sonnet-4-5", max_tokens: 100, stream: true, system: "be brief", messages: [{ role: "user", content: "hi" }], tools: [{ name: "t", input_schema: { type: "object" } }], metadata: { user_id: "u" } };
  const out = invokeBody(enc(body), new Headers(), accepted);
  expect(out.stream).toBe(true);
  expect(JSON.parse(out.text)).toEqual({ max_tokens: 100, system: "be brief", messages: [{ role: "user", content: "hi" }], tools: [{ name: "t", input_schema: { type: "object" } }], metadata: { user_id: "u" }, anthropic_version: "bedrock-2023-05-31" });
  expect(invokeBody(enc({ model: "m", messages: [] }), new Headers(), accepted).stream).toBe(false);
});

test("anthropic-beta header values move into anthropic_beta, only those Bedrock accepts, each once", () => {
  const headers = new Headers({ "anthropic-beta": "claude-code-20250219, interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14, context-1m-2025-08-07" });
  const out = JSON.parse(invokeBody(enc({ model: "m", messages: [], anthropic_beta: ["context-1m-2025-08-07", "mcp-servers-2025-12-04"] }), headers, accepted).text);
  expect(out.anthropic_beta).toEqual(["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]);
  expect(JSON.parse(invokeBody(enc({ model: "m" }), new Headers({ "anthropic-beta": "claude-code-20250219" }), accepted).text)).not.toHaveProperty("anthropic_beta");
  expect(bedrockBetas(null, "not a list", accepted)).toEqual([]);
});

test("token counting: max_tokens supplied when absent (InvokeModel's schema requires it), base64 body", () => {
  const invoke = invokeBody(enc({ model: "m", messages: [{ role: "user", content: "hi" }] }), new Headers(), accepted, { countTokens: true });
  const counted = JSON.parse(countTokensBody(invoke));
  expect(JSON.parse(Buffer.from(counted.input.invokeModel.body, "base64").toString())).toEqual({ messages: [{ role: "user", content: "hi" }], anthropic_version: "bedrock-2023-05-31", max_tokens: 1 });
});

test("a body that is not a JSON object is refused before anything is sent", () => {
  expect(() => invokeBody(enc("not json"), new Headers(), accepted)).toThrow(NotAMessagesBody);
  expect(() => invokeBody(enc([1]), new Headers(), accepted)).toThrow("must be a JSON object");
  expect(() => invokeBody(null, new Headers(), accepted)).toThrow(NotAMessagesBody);
});

test("model ids in the path: ':' and an ARN's '/' encoded once", () => {
  expect(modelPath("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "invoke-with-response-stream")).toBe("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream");
  expect(modelPath("arn:aws:bedrock:us-east-1:123:application-inference-profile/x", "invoke")).toBe("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Aapplication-inference-profile%2Fx/invoke");
});
