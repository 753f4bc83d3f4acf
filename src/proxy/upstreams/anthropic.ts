/**
 * An Anthropic API upstream: the request as the client sent it (credentials already removed by
 * the caller) with this upstream's key, streamed back untouched. The key is read from its source
 * for each attempt, so a rotated key file takes effect at the next request. When the upstream
 * answers 401, the key source is read again at once: if the key changed meanwhile (rotated and
 * the old one already revoked), the attempt is made once more with the new key, before the pool
 * counts a failure.
 */
import type { KeySource } from "./key-source.ts";
import { type Upstream, type UpstreamRequest, UpstreamUnreachable } from "./types.ts";

export interface AnthropicUpstreamOptions {
  name: string;
  /** Base URL without a trailing slash. */
  url: string;
  key: KeySource;
  fetch?: typeof fetch;
}

export class AnthropicUpstream implements Upstream {
  readonly type = "anthropic" as const;
  readonly name: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: AnthropicUpstreamOptions) {
    this.name = options.name;
    this.fetch = options.fetch ?? fetch;
  }

  supports(): boolean {
    return true;
  }

  /** No async frame of its own on the common path (the request path runs this per request). */
  send(request: UpstreamRequest, _model: string | undefined, signal: AbortSignal): Promise<Response> {
    const key = this.options.key.current();
    return this.once(request, key, signal).then((response) => (response.status === 401 ? this.unauthorized(response, request, key, signal) : response));
  }

  /** The key this attempt used may be stale even if this re-read finds nothing new (another request's did). */
  private async unauthorized(response: Response, request: UpstreamRequest, key: string, signal: AbortSignal): Promise<Response> {
    await this.options.key.refresh();
    if (this.options.key.current() === key) return response;
    void response.body?.cancel().catch(() => {});
    return this.once(request, this.options.key.current(), signal);
  }

  private once(request: UpstreamRequest, key: string, signal: AbortSignal): Promise<Response> {
    // the pool's attempts run one after another: each sets its own key on the shared headers
    request.headers.set("x-api-key", key);
    request.headers.set("accept-encoding", "identity"); // SSE must not be compressed (nor buffered by a decoder)
    return this.fetch(this.options.url + request.path + request.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
      redirect: "manual",
      // Bun-specific: no client-side timeout (long generations are normal; the pool bounds the head)
      timeout: false,
    }).catch((e: unknown) => {
      throw new UpstreamUnreachable(this.name, `upstream ${this.name} could not be reached: ${(e as Error).message}`, { cause: e });
    });
  }

  reload(): Promise<void> {
    return this.options.key.refresh().then(() => undefined);
  }

  close(): void {
    this.options.key.close();
  }
}
