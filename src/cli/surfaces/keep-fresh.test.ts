/**
 * The keep-fresh forwarder on real loopback sockets, in front of a recording stand-in for the
 * tenant's gateway: only the secret opens it, only the API allowlist passes, the secret is
 * replaced by a fresh token per request and never sent on, answers stream through as they come,
 * another user's process is refused (the socket owner is injected here; the real check against
 * `nobody` is in test/e2e/keep-fresh.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startForwarder, type Forwarder } from "./keep-fresh.ts";

interface Seen {
  method: string;
  path: string;
  authorization: string | null;
  apiKey: string | null;
  body: string;
}
let seen: Seen[] = [];
let gateway: ReturnType<typeof Bun.serve>;
let tokens = 0;
let forwarder: Forwarder;
let said: string[] = [];

beforeAll(() => {
  gateway = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      seen.push({ method: request.method, path: url.pathname + url.search, authorization: request.headers.get("authorization"), apiKey: request.headers.get("x-api-key"), body: await request.text() });
      if (url.pathname.endsWith("/messages") && request.headers.get("accept") === "text/event-stream") {
        // three events, 150 ms apart
        let n = 0;
        return new Response(
          new ReadableStream({
            async pull(c) {
              if (n > 0) await Bun.sleep(150);
              if (n === 3) return c.close();
              c.enqueue(new TextEncoder().encode(`event: e${n}\ndata: {}\n\n`));
              n++;
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      return Response.json({ ok: true, path: url.pathname }, { status: 200, headers: { "request-id": "req_1" } });
    },
  });
  forwarder = startForwarder({
    tenantUrl: `http://127.0.0.1:${gateway.port}/`,
    accessToken: async () => `access-${++tokens}`,
    send: (url, init) => fetch(url, init),
    say: (line) => said.push(line),
  });
});
afterAll(() => {
  forwarder.close();
  gateway.stop(true);
});

const base = () => `${forwarder.origin}/anthropic/v1`;
const call = (path: string, init: RequestInit & { secret?: string | null } = {}) => {
  const { secret = forwarder.secret, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (secret !== null) headers.set("authorization", `Bearer ${secret}`);
  return fetch(`${base()}${path}`, { ...rest, headers });
};

describe("the keep-fresh forwarder", () => {
  test("the child's request goes to the tenant's same path with a fresh token per request; the secret never leaves", async () => {
    seen = [];
    const body = JSON.stringify({ model: "m", max_tokens: 1, messages: [] });
    const first = await call("/v1/messages", { method: "POST", body, headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" } });
    expect(first.status).toBe(200);
    expect(first.headers.get("request-id")).toBe("req_1");
    expect(await first.json()).toEqual({ ok: true, path: "/anthropic/v1/v1/messages" });
    const second = await call("/v1/models?limit=5");
    expect(second.status).toBe(200);
    expect(seen.map((s) => [s.method, s.path, s.authorization, s.apiKey])).toEqual([
      ["POST", "/anthropic/v1/v1/messages", `Bearer access-${tokens - 1}`, null],
      ["GET", "/anthropic/v1/v1/models?limit=5", `Bearer access-${tokens}`, null],
    ]);
    expect(seen[0]!.body).toBe(body);
    expect(JSON.stringify(seen)).not.toContain(forwarder.secret);
  });

  test("the secret as x-api-key works too; without it, or another one: 401 and nothing forwarded", async () => {
    seen = [];
    expect((await fetch(`${base()}/v1/models`, { headers: { "x-api-key": forwarder.secret } })).status).toBe(200);
    const none = await call("/v1/models", { secret: null });
    expect(none.status).toBe(401);
    expect((await none.json()) as unknown).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    expect((await call("/v1/models", { secret: forwarder.secret.slice(0, -1) + "x" })).status).toBe(401);
    expect((await call("/v1/models", { secret: "" })).status).toBe(401);
    expect(seen).toHaveLength(1);
  });

  test("only the tenant's API paths: anything else is refused here, never forwarded", async () => {
    seen = [];
    for (const [method, path] of [["GET", "/v1/files"], ["POST", "/v1/messages/batches"], ["GET", "/v1/messages"], ["DELETE", "/v1/models/x"]] as const) {
      expect((await call(path, { method })).status).toBe(404);
    }
    expect((await fetch(`${forwarder.origin}/_gateway/v1/me/usage`, { headers: { authorization: `Bearer ${forwarder.secret}` } })).status).toBe(404);
    expect((await fetch(`${forwarder.origin}/anthropic/v1/v1/models/%2e%2e`, { headers: { authorization: `Bearer ${forwarder.secret}` } })).status).toBe(404);
    expect(seen).toEqual([]);
    // Claude Code's start-up HEAD is answered here, with no token spent
    const before = tokens;
    expect((await call("", { method: "HEAD" })).status).toBe(200);
    expect(tokens).toBe(before);
  });

  test("a streamed answer arrives piece by piece, as the gateway sends it", async () => {
    const started = performance.now();
    const response = await call("/v1/messages", { method: "POST", body: "{}", headers: { accept: "text/event-stream" } });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    const arrivals: number[] = [];
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      arrivals.push(performance.now() - started);
      text += new TextDecoder().decode(value);
    }
    expect(text).toBe("event: e0\ndata: {}\n\nevent: e1\ndata: {}\n\nevent: e2\ndata: {}\n\n");
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(200); // not buffered to the end
  });

  test("no fresh token to be had: the child gets the API's 401 shape and stderr says why", async () => {
    said = [];
    const broken = startForwarder({
      tenantUrl: `http://127.0.0.1:${gateway.port}`,
      accessToken: async () => Promise.reject(new (await import("../errors.ts")).AuthRequiredError("your session has expired or was revoked")),
      send: (url, init) => fetch(url, init),
      say: (line) => said.push(line),
    });
    try {
      const r = await fetch(`${broken.origin}/anthropic/v1/v1/models`, { headers: { authorization: `Bearer ${broken.secret}` } });
      expect(r.status).toBe(401);
      expect(((await r.json()) as { error: { message: string } }).error.message).toContain("your session has expired or was revoked");
      expect(said.join("\n")).toContain("no fresh access token");
    } finally {
      broken.close();
    }
  });

  test("another user's process is refused even with the secret; closed, it is gone", async () => {
    seen = [];
    const other = startForwarder({ tenantUrl: `http://127.0.0.1:${gateway.port}`, accessToken: async () => "t", send: (url, init) => fetch(url, init), say: () => {}, peerUid: () => 65534, allowedUids: [0] });
    const refused = await fetch(`${other.origin}/anthropic/v1/v1/models`, { headers: { authorization: `Bearer ${other.secret}` } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("another user");
    expect(seen).toEqual([]);
    other.close();
    await expect(fetch(`${other.origin}/anthropic/v1/v1/models`)).rejects.toThrow();
  });
});
