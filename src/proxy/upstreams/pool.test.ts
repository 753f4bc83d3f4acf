import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../../test/support/seeded-random.ts";
import { DEFAULT_ROUTING, type RoutingConfig } from "./config.ts";
import { Pool, type PoolDeps } from "./pool.ts";
import { type Upstream, type UpstreamRequest, UpstreamUnreachable, type UpstreamType } from "./types.ts";

/** What a fake member does with its next attempts: a status, "refuse" (connection error) or "hang" (no head). */
type Script = number | "refuse" | "hang";

class FakeUpstream implements Upstream {
  calls = 0;
  cancelledBodies = 0;
  seen: Array<{ model: string | undefined; aborted: () => boolean }> = [];
  constructor(
    readonly name: string,
    private script: Script[] = [],
    readonly type: UpstreamType = "anthropic",
    private readonly serves: (model: string | undefined) => boolean = () => true,
  ) {}
  then(...next: Script[]): this {
    this.script.push(...next);
    return this;
  }
  supports(_request: UpstreamRequest, model: string | undefined): boolean {
    return this.serves(model);
  }
  async send(_request: UpstreamRequest, model: string | undefined, signal: AbortSignal): Promise<Response> {
    this.calls++;
    this.seen.push({ model, aborted: () => signal.aborted });
    const step = this.script.shift() ?? 200;
    if (step === "refuse") throw new UpstreamUnreachable(this.name, "connection refused");
    if (step === "hang") {
      return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
    }
    const body = new ReadableStream({ pull: (c) => (c.enqueue(new TextEncoder().encode(JSON.stringify({ from: this.name }))), c.close()), cancel: () => void this.cancelledBodies++ });
    return new Response(body, { status: step, headers: { "content-type": "application/json" } });
  }
}

function setup(members: Array<FakeUpstream | [FakeUpstream, number]>, routing: Partial<RoutingConfig> = {}) {
  let now = 1_000_000;
  const logs: string[] = [];
  const deps: PoolDeps = { now: () => now, random: seededRandom(11), newRequestId: () => "req_pool", log: (_level, message) => void logs.push(message) };
  const pool = new Pool(
    members.map((m) => (Array.isArray(m) ? { upstream: m[0], weight: m[1] } : { upstream: m, weight: 1 })),
    { ...DEFAULT_ROUTING, ...routing },
    deps,
  );
  return { pool, logs, advance: (ms: number) => (now += ms) };
}

const body = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
function request(over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { route: "messages", method: "POST", path: "/v1/messages", search: "", headers: new Headers(), body: body({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [] }), signal: new AbortController().signal, ...over };
}

describe("failover", () => {
  for (const failure of [429, 500, 502, 503, 504, 529, 401, 403, "refuse"] as const) {
    test(`${failure} from the first upstream: the second serves, the client sees no failure`, async () => {
      const a = new FakeUpstream("a", [failure]);
      const b = new FakeUpstream("b");
      const { pool } = setup([a, b]);
      const result = await pool.send(request());
      expect(result.response.status).toBe(200);
      expect(await result.response.json()).toEqual({ from: "b" });
      expect(result.upstream).toBe("b");
      expect(result.attempts).toBe(2);
      const reason = failure === "refuse" ? "unreachable" : failure === 401 || failure === 403 ? "upstream_auth" : String(failure);
      expect(result.tried.map((t) => [t.upstream, t.outcome])).toEqual([["a", reason], ["b", "served"]]);
      expect(result.failure).toBeUndefined();
      if (failure !== "refuse") expect(a.cancelledBodies).toBe(1); // the failed answer's connection is released
      const [sa, sb] = pool.stats();
      expect(sa).toMatchObject({ name: "a", requests: 1, failures: { [reason]: 1 }, failovers: 1, circuit: "closed" });
      expect(sb).toMatchObject({ name: "b", requests: 1, failures: {}, failovers: 0 });
    });
  }

  test("no head within the timeout: aborted, and the next upstream serves", async () => {
    const a = new FakeUpstream("a", ["hang"]);
    const b = new FakeUpstream("b");
    const { pool } = setup([a, b], { headTimeoutMs: 30, streamHeadTimeoutMs: 10_000 });
    const result = await pool.send(request());
    expect(result.upstream).toBe("b");
    expect(result.tried[0]).toMatchObject({ upstream: "a", outcome: "timeout" });
    expect(a.seen[0]!.aborted()).toBe(true);
  });

  test("a streamed request has its own head timeout", async () => {
    const a = new FakeUpstream("a", ["hang"]);
    const { pool } = setup([a, new FakeUpstream("b")], { headTimeoutMs: 10_000, streamHeadTimeoutMs: 30 });
    const started = Date.now();
    const result = await pool.send(request({ body: body({ model: "m", stream: true }) }));
    expect(result.upstream).toBe("b");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  for (const status of [400, 404, 413, 422]) {
    test(`${status} (the client's fault) is served as it is, never retried`, async () => {
      const a = new FakeUpstream("a", [status]);
      const b = new FakeUpstream("b");
      const { pool } = setup([a, b]);
      const result = await pool.send(request());
      expect(result.response.status).toBe(status);
      expect(result.upstream).toBe("a");
      expect(b.calls).toBe(0);
      expect(pool.stats()[0]!.failures).toEqual({});
    });
  }

  test("at most maxAttempts in all; the last upstream's own answer is passed on", async () => {
    const members = [new FakeUpstream("a", [529]), new FakeUpstream("b", [503]), new FakeUpstream("c")];
    const { pool } = setup(members, { maxAttempts: 2 });
    const result = await pool.send(request());
    expect(result.response.status).toBe(503);
    expect(result.upstream).toBe("b");
    expect(result.failure).toBe("503");
    expect(result.attempts).toBe(2);
    expect(members[2]!.calls).toBe(0);
    expect(members[1]!.cancelledBodies).toBe(0); // passed on, not discarded
  });

  test("an upstream auth failure everywhere: the last 401 is passed on, marked upstream_auth", async () => {
    const { pool } = setup([new FakeUpstream("a", [401]), new FakeUpstream("b", [403])]);
    const result = await pool.send(request());
    expect(result.response.status).toBe(403);
    expect(result.failure).toBe("upstream_auth");
  });

  test("nothing reachable: 502 naming the upstreams tried; nothing answered in time: 504", async () => {
    const { pool } = setup([new FakeUpstream("a", ["refuse"]), new FakeUpstream("b", ["refuse"])]);
    const result = await pool.send(request());
    expect(result.response.status).toBe(502);
    expect(result.upstream).toBeNull();
    expect(await result.response.json()).toEqual({ type: "error", error: { type: "api_error", message: "the tenant proxy could not reach its upstreams (tried a, b)" }, request_id: "req_pool" });
    const slow = setup([new FakeUpstream("a", ["hang"])], { headTimeoutMs: 20 });
    const timedOut = await slow.pool.send(request());
    expect(timedOut.response.status).toBe(504);
    expect(timedOut.failure).toBe("timeout");
  });

  test("the client going away stops at once: no further attempt, nothing counted against the upstream", async () => {
    const client = new AbortController();
    const a = new FakeUpstream("a", ["hang"]);
    const b = new FakeUpstream("b");
    const { pool } = setup([a, b]);
    setTimeout(() => client.abort(), 20);
    const result = await pool.send(request({ signal: client.signal }));
    expect(result.failure).toBe("cancelled");
    expect(b.calls).toBe(0);
    expect(pool.stats()[0]!.failures).toEqual({});
  });
});

describe("circuit breakers", () => {
  test("five failures open a circuit: skipped for 30 s, then one probe; its success closes it", async () => {
    const a = new FakeUpstream("a", [529, 529, 529, 529, 529]);
    const b = new FakeUpstream("b");
    const { pool, logs, advance } = setup([a, b]);
    for (let i = 0; i < 5; i++) expect((await pool.send(request())).upstream).toBe("b");
    expect(pool.stats()[0]!.circuit).toBe("open");
    expect(logs.at(-1)).toBe("upstream a: circuit open after 5 consecutive failures; skipped for 30 s, then probed with one request");
    for (let i = 0; i < 3; i++) expect((await pool.send(request())).attempts).toBe(1);
    expect(a.calls).toBe(5); // skipped, not tried
    advance(30_000);
    expect(pool.stats()[0]!.circuit).toBe("half_open");
    const probe = await pool.send(request());
    expect(probe.upstream).toBe("a");
    expect(a.calls).toBe(6);
    expect(pool.stats()[0]!.circuit).toBe("closed");
    expect(logs.at(-1)).toBe("upstream a: circuit closed, the upstream answers again");
    expect((await pool.send(request())).upstream).toBe("a");
  });

  test("a failed probe keeps it open another 30 s", async () => {
    const a = new FakeUpstream("a", [500, 500, 500, 500, 500, 500]);
    const { pool, advance } = setup([a, new FakeUpstream("b")]);
    for (let i = 0; i < 5; i++) await pool.send(request());
    advance(30_000);
    expect((await pool.send(request())).tried.map((t) => t.upstream)).toEqual(["a", "b"]);
    expect(pool.stats()[0]!.circuit).toBe("open");
    advance(29_000);
    await pool.send(request());
    expect(a.calls).toBe(6);
  });

  test("every able upstream open: they are tried anyway, in order (never no upstream at all)", async () => {
    const only = new FakeUpstream("only", [529, 529, 529, 529, 529, 529]);
    const { pool } = setup([only]);
    for (let i = 0; i < 5; i++) await pool.send(request());
    expect(pool.stats()[0]!.circuit).toBe("open");
    const result = await pool.send(request());
    expect(only.calls).toBe(6);
    expect(result.response.status).toBe(529);
    const recovered = await pool.send(request());
    expect(recovered.response.status).toBe(200);
    expect(pool.stats()[0]!.circuit).toBe("closed");
  });
});

describe("which upstreams, in which order", () => {
  test("weighted routing spreads first attempts within 10 % of the weights over 1,000 requests", async () => {
    const a = new FakeUpstream("a");
    const b = new FakeUpstream("b");
    const { pool } = setup([[a, 3], [b, 1]], { strategy: "weighted" });
    for (let i = 0; i < 1000; i++) await (await pool.send(request())).response.arrayBuffer();
    expect(Math.abs(a.calls - 750)).toBeLessThanOrEqual(75);
    expect(Math.abs(b.calls - 250)).toBeLessThanOrEqual(25);
  });

  test("an upstream that cannot serve the model is passed over, not counted; none able: 404", async () => {
    const bedrock = new FakeUpstream("bedrock", [], "bedrock", (model) => model === "claude-sonnet-4-5");
    const anthropic = new FakeUpstream("anthropic");
    const { pool } = setup([bedrock, anthropic]);
    expect((await pool.send(request())).upstream).toBe("bedrock");
    expect(bedrock.seen[0]!.model).toBe("claude-sonnet-4-5"); // read from the body
    expect((await pool.send(request({ body: body({ model: "claude-fable-5-1" }) }))).upstream).toBe("anthropic");
    expect(pool.stats()[0]!.requests).toBe(1);
    const bedrockOnly = setup([new FakeUpstream("bedrock", [], "bedrock", () => false)]);
    const none = await bedrockOnly.pool.send(request({ body: body({ model: "claude-fable-5-1" }) }));
    expect(none.response.status).toBe(404);
    expect(await none.response.json()).toMatchObject({ error: { type: "not_found_error", message: 'no upstream of this tenant serves the model "claude-fable-5-1"' } });
  });

  test("the caller's facts are used as given (the body is not parsed again)", async () => {
    const a = new FakeUpstream("a");
    const { pool } = setup([a]);
    await pool.send(request({ body: new TextEncoder().encode("not json"), facts: { model: "from-caller" } }));
    expect(a.seen[0]!.model).toBe("from-caller");
  });

  test("token counting goes to Bedrock only when no Anthropic upstream can answer", async () => {
    const bedrock = new FakeUpstream("bedrock", [], "bedrock");
    const anthropic = new FakeUpstream("anthropic");
    const { pool } = setup([bedrock, anthropic]);
    const count = await pool.send(request({ route: "count_tokens", path: "/v1/messages/count_tokens" }));
    expect(count.upstream).toBe("anthropic");
    expect((await pool.send(request())).upstream).toBe("bedrock");
  });

  test("the model list comes from an Anthropic upstream when there is one (it lists everything the pool serves), else from Bedrock", async () => {
    const bedrock = new FakeUpstream("bedrock", [], "bedrock");
    const anthropic = new FakeUpstream("anthropic");
    const models = request({ route: "models", method: "GET", path: "/v1/models", body: null });
    expect((await setup([bedrock, anthropic]).pool.send(models)).upstream).toBe("anthropic");
    expect((await setup([new FakeUpstream("bedrock", [], "bedrock")]).pool.send(models)).upstream).toBe("bedrock");
  });
});
