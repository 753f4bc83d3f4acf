import { afterAll, expect, test } from "bun:test";
import { startStubUpstream } from "../../tenant/stub-upstream.ts";
import { AnthropicUpstream } from "./anthropic.ts";
import { type KeySource, StaticKeySource } from "./key-source.ts";
import { type UpstreamRequest, UpstreamUnreachable } from "./types.ts";

const stub = startStubUpstream({ apiKey: "sk-ant-one" });
afterAll(() => stub.stop());

const request = (over: Partial<UpstreamRequest> = {}): UpstreamRequest => ({
  route: "messages",
  method: "POST",
  path: "/v1/messages",
  search: "?beta=true",
  headers: new Headers({ "content-type": "application/json", "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219" }),
  body: new TextEncoder().encode(JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 5, messages: [{ role: "user", content: "hi" }] })),
  signal: new AbortController().signal,
  ...over,
});

/** A key source whose file "changes" on the next read. */
class RotatingKey implements KeySource {
  reads = 0;
  constructor(
    private key: string,
    private readonly next: string,
  ) {}
  current() {
    return this.key;
  }
  async refresh() {
    this.reads++;
    const changed = this.key !== this.next;
    this.key = this.next;
    return changed;
  }
  close() {}
}

test("sends the request with this upstream's key, path and query, headers kept", async () => {
  const upstream = new AnthropicUpstream({ name: "a", url: stub.url, key: new StaticKeySource("sk-ant-one") });
  const response = await upstream.send(request(), "claude-sonnet-4-5", new AbortController().signal);
  expect(response.status).toBe(200);
  expect((await response.json()).type).toBe("message");
  const seen = stub.recorded().at(-1)!;
  expect(seen).toMatchObject({ method: "POST", path: "/v1/messages", search: "?beta=true" });
  expect(seen.headers["x-api-key"]).toBe("sk-ant-one");
  expect(seen.headers["anthropic-beta"]).toBe("claude-code-20250219");
  expect(seen.headers["accept-encoding"]).toBe("identity");
});

test("a 401 after the key was rotated and the old one revoked: read again, sent once more with the new key", async () => {
  stub.acceptKeys(["sk-ant-two"]);
  const key = new RotatingKey("sk-ant-one", "sk-ant-two");
  const upstream = new AnthropicUpstream({ name: "a", url: stub.url, key });
  const response = await upstream.send(request(), undefined, new AbortController().signal);
  expect(response.status).toBe(200);
  expect(stub.recorded().slice(-2).map((r) => r.headers["x-api-key"])).toEqual(["sk-ant-one", "sk-ant-two"]);
  // a 401 with an unchanged key is the answer: the pool counts it and moves on
  const stale = new AnthropicUpstream({ name: "a", url: stub.url, key: new StaticKeySource("sk-ant-one") });
  expect((await stale.send(request(), undefined, new AbortController().signal)).status).toBe(401);
  stub.acceptKeys(["sk-ant-one"]);
});

test("a 401 with a key another request already replaced: sent again with the current key", async () => {
  stub.acceptKeys(["sk-ant-two"]);
  let key = "sk-ant-one";
  const source: KeySource = { current: () => key, refresh: async () => false, close() {} };
  const upstream = new AnthropicUpstream({ name: "a", url: stub.url, key: source });
  const sending = upstream.send(request(), undefined, new AbortController().signal);
  key = "sk-ant-two"; // re-read by someone else while this attempt was on its way
  expect((await sending).status).toBe(200);
  stub.acceptKeys(["sk-ant-one"]);
});

test("a refused connection is UpstreamUnreachable, naming the upstream", async () => {
  const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const url = `http://127.0.0.1:${closed.port}`;
  await closed.stop(true);
  const upstream = new AnthropicUpstream({ name: "gone", url, key: new StaticKeySource("k") });
  const error = await upstream.send(request(), undefined, new AbortController().signal).catch((e) => e);
  expect(error).toBeInstanceOf(UpstreamUnreachable);
  expect((error as UpstreamUnreachable).upstream).toBe("gone");
  expect((error as Error).message).toContain("upstream gone could not be reached");
});
