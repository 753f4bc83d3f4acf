/**
 * The upstream pool bypassed, for the benchmarks that measure what the pool costs (issue 19):
 * one attempt at the one upstream with the client's signal, as the gateway forwarded before the
 * pool (no order, breaker, head deadline, attempt records or failover). Only in bench/, never in
 * the gateway.
 */
import type { AnthropicUpstream } from "../src/proxy/upstreams/anthropic.ts";
import type { Pool, PoolResult } from "../src/proxy/upstreams/pool.ts";
import type { UpstreamRequest } from "../src/proxy/upstreams/types.ts";

class Bypass {
  constructor(private readonly upstream: AnthropicUpstream) {}

  async send(request: UpstreamRequest): Promise<PoolResult> {
    const response = await this.upstream.send(request, request.facts?.model, request.signal);
    return { response, upstream: this.upstream.name, attempts: 1, tried: [] };
  }
  stats() {
    return [];
  }
  models() {
    return [];
  }
  async reload() {}
  close() {}
}

/** A `Pool` in type only: the request path calls `send`, and reads the rest for metrics and reloads. */
export const DirectPool = Bypass as unknown as new (upstream: AnthropicUpstream) => Pool;
