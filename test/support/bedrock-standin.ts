/**
 * A local stand-in for Amazon Bedrock Runtime (Bun.serve on 127.0.0.1), strict where Bedrock is:
 *  - every request's SigV4 signature is verified by rebuilding the canonical request here with
 *    node:crypto (sigv4-verify.ts), never by the signer under test; bad or missing signatures,
 *    unknown keys, wrong session tokens and expired tokens answer 403 as AWS does;
 *  - `POST /model/{modelId}/invoke` answers JSON, `/invoke-with-response-stream` answers
 *    `application/vnd.amazon.eventstream` frames (encoded by the AWS SDK's codec), one frame per
 *    Anthropic event, the last carrying `amazon-bedrock-invocationMetrics`, `/count-tokens`
 *    answers `{"inputTokens": n}` (foundation models only);
 *  - the body must be Bedrock's: `anthropic_version` "bedrock-2023-05-31", no `model` or
 *    `stream`, only betas Bedrock accepts ("invalid beta flag" otherwise);
 *  - the answers are the Anthropic stub's (src/tenant/stub-upstream.ts: same text, same usage
 *    fields), with the Bedrock model id as `model`;
 *  - on demand: HTTP errors (throttling, unavailability, access denied…), an exception frame
 *    after N events (0: as the first frame), a stall before answering.
 */
import { DEFAULT_BEDROCK_MODELS } from "../../src/proxy/upstreams/bedrock/models.ts";
import { messageEvents, messageJson, newStubMessageId, STUB_ANSWER, stubUsage, type StubUsage } from "../../src/tenant/stub-upstream.ts";
import { chunkFrame, exceptionFrame } from "./bedrock-frames.ts";
import { type AwsTestCredentials, verifySigV4 } from "./sigv4-verify.ts";

export type StandinBehaviour =
  | { mode: "normal"; eventDelayMs?: number }
  /** An HTTP error: `ThrottlingException` 429, `ServiceUnavailableException` 503, `AccessDeniedException` 403… */
  | { mode: "fail"; errorType: string; status: number; message?: string }
  /** A stream exception frame after `afterEvents` events (0: the first frame). */
  | { mode: "exception"; exceptionType: string; afterEvents: number; message?: string }
  | { mode: "stall"; ms: number };

export const THROTTLED: StandinBehaviour = { mode: "fail", errorType: "ThrottlingException", status: 429, message: "Too many requests, please wait before trying again." };
export const UNAVAILABLE: StandinBehaviour = { mode: "fail", errorType: "ServiceUnavailableException", status: 503, message: "Bedrock is unable to process your request." };
export const ACCESS_DENIED: StandinBehaviour = { mode: "fail", errorType: "AccessDeniedException", status: 403, message: "You don't have access to the model with the specified model ID." };

export interface StandinInvocation {
  operation: "invoke" | "invoke-with-response-stream" | "count-tokens";
  /** The model id, decoded from the path. */
  modelId: string;
  /** The path as sent (encoded). */
  rawPath: string;
  headers: Record<string, string>;
  /** The InvokeModel body (for CountTokens: the decoded blob). */
  body: string;
}

export interface StandinOptions {
  credentials: AwsTestCredentials[];
  /** The Region the signature must be scoped to (default us-east-1). */
  region?: string;
  messageId?: () => string;
  /** The usage of a request, from its InvokeModel body (default: the stub's formula on that body). */
  usage?: (body: string) => StubUsage;
  now?: () => number;
}

const ACCEPTED_BETAS = new Set(DEFAULT_BEDROCK_MODELS.betas);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startBedrockStandin(options: StandinOptions) {
  let behaviour: StandinBehaviour = { mode: "normal" };
  const expiredTokens = new Set<string>();
  const invocations: StandinInvocation[] = [];
  const stats = { requests: 0, rejectedSignatures: 0, streamsStarted: 0, streamsCompleted: 0 };
  const region = options.region ?? "us-east-1";
  const now = options.now ?? Date.now;
  const usageOf = options.usage ?? stubUsage;
  const newId = options.messageId ?? newStubMessageId;

  const error = (status: number, errorType: string, message: string) =>
    new Response(JSON.stringify({ message }), { status, headers: { "content-type": "application/json", "x-amzn-errortype": `${errorType}:http://internal.amazon.com/coral/com.amazon.bedrock/`, "x-amzn-requestid": crypto.randomUUID() } });

  /** Bedrock's validation of an InvokeModel body for Claude; the error's message, or undefined. */
  function invalid(body: string): string | undefined {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body);
    } catch {
      return "Malformed input request, please reformat your input and try again.";
    }
    if (json.anthropic_version !== "bedrock-2023-05-31") return "Malformed input request: #: required key [anthropic_version] not found";
    for (const key of ["model", "stream"]) if (key in json) return `Malformed input request: #: extraneous key [${key}] is not permitted`;
    if (!Array.isArray(json.messages)) return "Malformed input request: #: required key [messages] not found";
    if (json.anthropic_beta !== undefined && (!Array.isArray(json.anthropic_beta) || !json.anthropic_beta.every((b) => ACCEPTED_BETAS.has(b)))) return "invalid beta flag";
    return undefined;
  }

  function streamAnswer(modelId: string, body: string): Response {
    stats.streamsStarted++;
    const events = messageEvents(modelId, STUB_ANSWER, usageOf(body), newId()).map((sse) => {
      const [, type, data] = /^event: (\S+)\ndata: (.*)\n\n$/s.exec(sse) as unknown as [string, string, string];
      if (type !== "message_stop") return data;
      return JSON.stringify({ ...JSON.parse(data), "amazon-bedrock-invocationMetrics": { inputTokenCount: 10, outputTokenCount: 14, invocationLatency: 380, firstByteLatency: 120 } });
    });
    const current = behaviour;
    const delayMs = current.mode === "normal" ? (current.eventDelayMs ?? 0) : 0;
    let index = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (index > 0 && delayMs > 0) await sleep(delayMs);
        if (current.mode === "exception" && index === current.afterEvents) {
          controller.enqueue(exceptionFrame(current.exceptionType, current.message ?? "The system encountered an unexpected error during processing. Try your request again."));
          controller.close();
          return;
        }
        const event = events[index++];
        if (event === undefined) {
          stats.streamsCompleted++;
          controller.close();
          return;
        }
        controller.enqueue(chunkFrame(event));
      },
    });
    return new Response(stream, { headers: { "content-type": "application/vnd.amazon.eventstream", "x-amzn-bedrock-content-type": "application/json", "x-amzn-requestid": crypto.randomUUID() } });
  }

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      stats.requests++;
      const target = request.url.slice(request.url.indexOf("/", request.url.indexOf("//") + 2));
      const [rawPath, rawQuery = ""] = target.split("?") as [string, string?];
      const bytes = new Uint8Array(await request.arrayBuffer());
      const check = verifySigV4({ method: request.method, rawPath, rawQuery, headers: request.headers, body: bytes }, options.credentials, { now: now() });
      if (!check.ok) {
        stats.rejectedSignatures++;
        return error(403, check.errorType, check.message);
      }
      if (check.service !== "bedrock" || check.region !== region) return error(403, "InvalidSignatureException", `Credential should be scoped to a valid region and service 'bedrock' in '${region}'`);
      const token = request.headers.get("x-amz-security-token");
      if (token !== null && expiredTokens.has(token)) return error(403, "ExpiredTokenException", "The security token included in the request is expired");

      const match = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream|count-tokens)$/.exec(rawPath);
      if (request.method !== "POST" || !match) return error(404, "UnknownOperationException", `no operation at ${request.method} ${rawPath}`);
      const modelId = decodeURIComponent(match[1] as string);
      const operation = match[2] as StandinInvocation["operation"];
      let body = new TextDecoder().decode(bytes);
      if (operation === "count-tokens") {
        try {
          body = Buffer.from((JSON.parse(body) as { input: { invokeModel: { body: string } } }).input.invokeModel.body, "base64").toString("utf8");
        } catch {
          return error(400, "ValidationException", "input.invokeModel.body is required");
        }
      }
      const headers: Record<string, string> = {};
      request.headers.forEach((v, k) => (headers[k] = v));
      invocations.push({ operation, modelId, rawPath, headers, body });
      if (invocations.length > 200) invocations.shift();

      if (!/(^|\.|\/)anthropic\.claude|^arn:aws:bedrock:/.test(modelId)) return error(400, "ValidationException", "The provided model identifier is invalid.");
      const problem = invalid(body);
      if (problem) return error(400, "ValidationException", problem);
      if (behaviour.mode === "fail") return error(behaviour.status, behaviour.errorType, behaviour.message ?? behaviour.errorType);
      if (behaviour.mode === "stall") await sleep(behaviour.ms);

      if (operation === "count-tokens") {
        if (!modelId.startsWith("anthropic.")) return error(400, "ValidationException", "The provided model doesn't support counting tokens.");
        return Response.json({ inputTokens: Math.max(1, Math.round(body.length / 4)) }, { headers: { "x-amzn-requestid": crypto.randomUUID() } });
      }
      if (operation === "invoke-with-response-stream") return streamAnswer(modelId, body);
      const answer = messageJson(modelId, usageOf(body), options.messageId?.());
      return Response.json(answer, {
        headers: {
          "x-amzn-requestid": crypto.randomUUID(),
          "x-amzn-bedrock-input-token-count": String(answer.usage.input_tokens),
          "x-amzn-bedrock-output-token-count": String(answer.usage.output_tokens),
          "x-amzn-bedrock-invocation-latency": "380",
        },
      });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    stop: () => server.stop(true),
    stats,
    behave(next: StandinBehaviour) {
      behaviour = next;
    },
    /** From now on, this session token is answered ExpiredTokenException. */
    expire(sessionToken: string) {
      expiredTokens.add(sessionToken);
    },
    invocations: (): readonly StandinInvocation[] => invocations,
  };
}

export type BedrockStandin = ReturnType<typeof startBedrockStandin>;
