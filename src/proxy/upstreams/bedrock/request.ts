/**
 * An Anthropic Messages request as Bedrock's InvokeModel takes it: the model moves into the path
 * (`/model/{modelId}/invoke[-with-response-stream]`, the id percent-encoded: `:` and an ARN's
 * `/`), `stream` into the operation, `"anthropic_version": "bedrock-2023-05-31"` into the body,
 * and `anthropic-beta` header values into `anthropic_beta`, keeping only those Bedrock accepts
 * (Claude Code always sends `claude-code-20250219`, which Bedrock refuses with 400 "invalid beta
 * flag"). Everything else in the body goes as the client sent it. CountTokens takes the same body,
 * base64-encoded, under the foundation model's id.
 */

export const BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31";

export interface InvokeBody {
  /** The body for InvokeModel (JSON text). */
  text: string;
  stream: boolean;
}

/** The client's body was not a JSON object: answered 400 here, as the Anthropic API would. */
export class NotAMessagesBody extends Error {
  readonly code = "not_a_messages_body";
}

/** The `anthropic-beta` values of the header and of the body, those Bedrock accepts, each once. */
export function bedrockBetas(header: string | null, body: unknown, accepted: ReadonlySet<string>): string[] {
  const given = [...(header ?? "").split(","), ...(Array.isArray(body) ? body.filter((b): b is string => typeof b === "string") : [])];
  return [...new Set(given.map((b) => b.trim()).filter((b) => accepted.has(b)))];
}

export function invokeBody(body: Uint8Array | null, headers: Headers, accepted: ReadonlySet<string>, options: { countTokens?: boolean } = {}): InvokeBody {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body ?? new Uint8Array()));
  } catch {
    throw new NotAMessagesBody("the request body is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new NotAMessagesBody("the request body must be a JSON object");
  const { model: _model, stream, anthropic_beta: bodyBetas, ...rest } = json as Record<string, unknown>;
  const betas = bedrockBetas(headers.get("anthropic-beta"), bodyBetas, accepted);
  const out: Record<string, unknown> = { ...rest, anthropic_version: BEDROCK_ANTHROPIC_VERSION };
  if (betas.length > 0) out.anthropic_beta = betas;
  // InvokeModel's schema requires max_tokens; a token count has none (it is not generated from)
  if (options.countTokens && out.max_tokens === undefined) out.max_tokens = 1;
  return { text: JSON.stringify(out), stream: stream === true };
}

/** `/model/{modelId}/{operation}`: the id encoded once (`:` as `%3A`, an ARN's `/` as `%2F`). */
export function modelPath(modelId: string, operation: "invoke" | "invoke-with-response-stream" | "count-tokens"): string {
  return `/model/${encodeURIComponent(modelId)}/${operation}`;
}

/** CountTokens' body: the InvokeModel body as a base64 blob. */
export function countTokensBody(invoke: InvokeBody): string {
  return JSON.stringify({ input: { invokeModel: { body: Buffer.from(invoke.text).toString("base64") } } });
}
