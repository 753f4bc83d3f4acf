/**
 * What the upstream pool and its members agree on: the request they are handed (built once by
 * the request path, its body already read), the narrow interface every member implements
 * (Anthropic API with a key, Amazon Bedrock), and the typed errors of this folder.
 */

/** The routes of routes.ts the pool serves (bounded: also a metrics label). */
export type UpstreamRoute = "messages" | "count_tokens" | "models";

export interface UpstreamRequest {
  route: UpstreamRoute;
  method: string;
  /** Rebuilt from the matched route (routes.ts), never the client's text: `/v1/messages`, `/v1/models/{id}`. */
  path: string;
  /** `""` or `?…`, already re-serialised by routes.ts. */
  search: string;
  /**
   * The client's headers with its credentials and hop-by-hop headers removed (forward.ts's list).
   * Handed over: an attempt may set its own headers on it (an Anthropic upstream sets its key),
   * attempts being one after another; the caller does not use it afterwards.
   */
  headers: Headers;
  /** The whole body (kept, so the request can go to the next upstream); null for GET. */
  body: Uint8Array<ArrayBuffer> | null;
  /** The body's `model` and `stream`, when the caller parsed them already (accounting/estimate.ts's requestFacts); absent: the pool reads them. */
  facts?: BodyFacts;
  /** The client going away: no further attempt, the one in flight is aborted. */
  signal: AbortSignal;
}

export interface BodyFacts {
  model?: string;
  stream?: boolean;
}

export type UpstreamType = "anthropic" | "bedrock";

/** One member of a pool. */
export interface Upstream {
  readonly name: string;
  readonly type: UpstreamType;
  /** Whether this member can serve the request at all (a Bedrock member knows only its models). */
  supports(request: UpstreamRequest, model: string | undefined): boolean;
  /**
   * Sends one attempt. Resolves with the Anthropic-shaped answer as soon as its head is known
   * (the body streams on); rejects with {@link UpstreamUnreachable} when no answer came.
   */
  send(request: UpstreamRequest, model: string | undefined, signal: AbortSignal): Promise<Response>;
  /** The Anthropic model ids this member can serve, when it knows them (Bedrock). */
  models?(): string[];
  /** Re-reads keys and credentials now (SIGHUP). */
  reload?(): Promise<void>;
  close?(): void;
}

/** Operational events (key rotated, circuit opened): the gateway's `logEvent` fits. */
export type EventLogger = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

export type UpstreamErrorCode =
  /** The pool configuration is wrong: start-up fails with this message. */
  | "config"
  /** A key file or variable cannot give a key at start-up. */
  | "key_source"
  /** No AWS credentials could be found or refreshed. */
  | "credentials"
  /** The upstream could not be reached, or the connection failed before the answer's head. */
  | "unreachable";

export class UpstreamError extends Error {
  override readonly name = "UpstreamError";
  constructor(
    readonly code: UpstreamErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A connection that failed before the answer's head: the pool tries the next upstream. */
export class UpstreamUnreachable extends UpstreamError {
  constructor(
    readonly upstream: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("unreachable", message, options);
  }
}
