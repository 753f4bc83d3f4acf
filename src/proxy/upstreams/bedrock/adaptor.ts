/**
 * An Amazon Bedrock upstream, speaking the Anthropic API to the pool:
 *  - `POST /v1/messages` → InvokeModel (JSON, the model id mapped back) or
 *    InvokeModelWithResponseStream (the event stream as Anthropic SSE, stream.ts); an exception
 *    as the stream's very first frame is answered as an HTTP error instead, so the pool can still
 *    fail over (nothing reached the client yet);
 *  - `POST /v1/messages/count_tokens` → CountTokens, on the foundation model under the profile;
 *  - `GET /v1/models[/{id}]` → answered here, from the models this upstream serves.
 * Every request is signed (sign.ts) with credentials from the cache (credentials.ts); a request
 * refused for stale credentials (expired token, bad signature) is signed again once with fresh
 * ones. Errors become Anthropic-shaped (errors.ts).
 */
import { readCapped } from "../../../shared/read-capped.ts";
import { anthropicError } from "../../http/errors.ts";
import { type Upstream, type UpstreamRequest, UpstreamUnreachable } from "../types.ts";
import type { CredentialCache } from "./credentials.ts";
import { bedrockErrorResponse, errorName, isStaleCredentials } from "./errors.ts";
import { type BedrockModelMap, foundationModelId, type ListedModel } from "./models.ts";
import { countTokensBody, invokeBody, modelPath, NotAMessagesBody } from "./request.ts";
import { type BedrockSigner, bedrockSigner } from "./sign.ts";
import { EventStreamToSse } from "./stream.ts";

export interface BedrockUpstreamOptions {
  name: string;
  region: string;
  /** `https://bedrock-runtime.<region>.amazonaws.com`, or a stand-in's URL. */
  endpoint: string;
  models: BedrockModelMap;
  /** `anthropic-beta` values passed on. */
  betas: ReadonlySet<string>;
  credentials: CredentialCache;
  now: () => number;
  newRequestId: () => string;
  fetch?: typeof fetch;
}

/** An error body is read up to this much (the message is all that is used). */
const MAX_ERROR_BODY = 64 * 1024;
/** A JSON answer is read whole (its model is rewritten); bounded all the same. */
const MAX_JSON_ANSWER = 64 * 1024 * 1024;

export class BedrockUpstream implements Upstream {
  readonly type = "bedrock" as const;
  readonly name: string;
  private readonly sign: BedrockSigner;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: BedrockUpstreamOptions) {
    this.name = options.name;
    this.fetch = options.fetch ?? fetch;
    this.sign = bedrockSigner(options.region, () => options.credentials.get(), options.now);
  }

  supports(request: UpstreamRequest, model: string | undefined): boolean {
    if (request.route === "models") return true;
    const id = model === undefined ? undefined : this.options.models.resolve(model);
    if (id === undefined) return false;
    // CountTokens takes a foundation model id: not an application profile's ARN
    return request.route !== "count_tokens" || foundationModelId(id) !== undefined;
  }

  models(): string[] {
    return this.options.models.list().map((m) => m.id);
  }

  async send(request: UpstreamRequest, model: string | undefined, signal: AbortSignal): Promise<Response> {
    if (request.route === "models") return this.listModels(request.path);
    const id = model === undefined ? undefined : this.options.models.resolve(model);
    if (model === undefined || id === undefined) return anthropicError(404, "not_found_error", `model: ${model ?? "(none)"} is not served by upstream ${this.name}`, this.options.newRequestId());
    let body;
    try {
      body = invokeBody(request.body, request.headers, this.options.betas, { countTokens: request.route === "count_tokens" });
    } catch (e) {
      if (e instanceof NotAMessagesBody) return anthropicError(400, "invalid_request_error", e.message, this.options.newRequestId());
      throw e;
    }
    if (request.route === "count_tokens") return this.countTokens(foundationModelId(id) as string, countTokensBody(body), signal);
    return body.stream ? this.invokeStream(id, body.text, model, signal) : this.invoke(id, body.text, model, signal);
  }

  reload(): Promise<void> {
    return this.options.credentials.refresh();
  }

  private async invoke(id: string, body: string, model: string, signal: AbortSignal): Promise<Response> {
    const response = await this.call(modelPath(id, "invoke"), body, { accept: "application/json" }, signal);
    if (response.status !== 200) return this.error(response);
    const requestId = this.requestIdOf(response);
    let answer: Record<string, unknown>;
    try {
      answer = JSON.parse(await boundedText(response, MAX_JSON_ANSWER)) as Record<string, unknown>;
    } catch (e) {
      return anthropicError(502, "api_error", `Amazon Bedrock answered with something that is not a message: ${(e as Error).message}`, requestId);
    }
    if (typeof answer === "object" && answer !== null && "model" in answer) answer.model = model;
    return new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json", "request-id": requestId } });
  }

  private async invokeStream(id: string, body: string, model: string, signal: AbortSignal): Promise<Response> {
    const response = await this.call(modelPath(id, "invoke-with-response-stream"), body, { accept: "application/vnd.amazon.eventstream", "x-amzn-bedrock-accept": "application/json" }, signal);
    if (response.status !== 200) return this.error(response);
    const requestId = this.requestIdOf(response);
    if (!response.body) return anthropicError(502, "api_error", "Amazon Bedrock answered a stream without a body", requestId);
    const converter = new EventStreamToSse(model);
    const reader = response.body.pipeThrough(converter.stream).getReader();
    // Wait for the first event: an exception before any event is still an HTTP error (failover).
    const first = await reader.read();
    if (converter.failure && converter.events === 0) {
      void reader.cancel().catch(() => {});
      return anthropicError(converter.failure.status, converter.failure.type, converter.failure.message, requestId);
    }
    return new Response(prepend(first, reader), {
      status: 200,
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "request-id": requestId },
    });
  }

  private async countTokens(foundationId: string, body: string, signal: AbortSignal): Promise<Response> {
    const response = await this.call(modelPath(foundationId, "count-tokens"), body, { accept: "application/json" }, signal);
    if (response.status !== 200) return this.error(response);
    const requestId = this.requestIdOf(response);
    let count: unknown;
    try {
      count = (JSON.parse(await boundedText(response, MAX_ERROR_BODY)) as { inputTokens?: unknown }).inputTokens;
    } catch {
      count = undefined;
    }
    if (typeof count !== "number") return anthropicError(502, "api_error", "Amazon Bedrock's CountTokens answer has no inputTokens", requestId);
    return Response.json({ input_tokens: count }, { headers: { "request-id": requestId } });
  }

  /** `GET /v1/models` and `/v1/models/{id}`, from this upstream's table. */
  private listModels(path: string): Response {
    const listed = this.options.models.list();
    const shape = (m: ListedModel) => ({ type: "model", id: m.id, display_name: m.displayName, created_at: m.createdAt });
    const requestId = this.options.newRequestId();
    const one = path.startsWith("/v1/models/") ? path.slice("/v1/models/".length) : undefined;
    if (one === undefined) {
      return Response.json({ data: listed.map(shape), has_more: false, first_id: listed[0]?.id ?? null, last_id: listed.at(-1)?.id ?? null }, { headers: { "request-id": requestId } });
    }
    const found = listed.find((m) => m.id === one) ?? (this.options.models.resolve(one) !== undefined ? listed.find((m) => this.options.models.resolve(m.id) === this.options.models.resolve(one)) : undefined);
    return found ? Response.json(shape(found), { headers: { "request-id": requestId } }) : anthropicError(404, "not_found_error", `model: ${one}`, requestId);
  }

  /** One signed POST; once more with fresh credentials when Bedrock says they are stale. */
  private async call(path: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const first = await this.post(path, body, headers, signal);
    if ((first.status !== 401 && first.status !== 403) || !isStaleCredentials(errorName(first.headers.get("x-amzn-errortype")))) return first;
    void first.body?.cancel().catch(() => {});
    this.options.credentials.invalidate();
    return this.post(path, body, headers, signal);
  }

  private async post(path: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const url = new URL(this.options.endpoint + path);
    const signed = await this.sign(url, "POST", { "content-type": "application/json", ...headers }, body);
    try {
      return await this.fetch(url, {
        method: "POST",
        headers: { ...signed, "accept-encoding": "identity" },
        body,
        signal,
        redirect: "manual",
        // Bun-specific: no client-side timeout (the pool bounds the head; streams run long)
        timeout: false,
      });
    } catch (e) {
      throw new UpstreamUnreachable(this.name, `upstream ${this.name} (Amazon Bedrock) could not be reached: ${(e as Error).message}`, { cause: e });
    }
  }

  private async error(response: Response): Promise<Response> {
    const text = await boundedText(response, MAX_ERROR_BODY).catch(() => "");
    return bedrockErrorResponse(response.status, response.headers.get("x-amzn-errortype"), text, this.requestIdOf(response));
  }

  private requestIdOf(response: Response): string {
    return response.headers.get("x-amzn-requestid") ?? this.options.newRequestId();
  }
}

/** The first read chunk, then the rest of the reader, pulled as the client reads. */
function prepend(first: { done: boolean; value?: Uint8Array }, reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  let head = first.done ? undefined : first.value;
  let ended = first.done;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (head) {
          controller.enqueue(head);
          head = undefined;
          return;
        }
        if (ended) return controller.close();
        const { value, done } = await reader.read();
        if (done) {
          ended = true;
          return controller.close();
        }
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** A body read up to `limit` bytes, as text (past it: an error, the rest never held). */
async function boundedText(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const bytes = await readCapped(response.body, limit, { tooLarge: () => new Error(`the answer is larger than ${limit} bytes`) });
  return new TextDecoder().decode(bytes);
}
