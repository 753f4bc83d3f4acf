import { afterAll, beforeAll, expect, test } from "bun:test";
import { boundedFetch, ResponseTooLarge } from "./bounded-fetch.ts";

let server: ReturnType<typeof Bun.serve>;
let streamed = 0;
beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    fetch(request) {
      const path = new URL(request.url).pathname;
      if (path === "/small") return Response.json({ ok: true }, { headers: { "x-a": "1" } });
      if (path === "/declared") return new Response("x".repeat(2000));
      if (path === "/stream") {
        return new Response(
          new ReadableStream({
            pull(c) {
              streamed += 1024;
              c.enqueue(new Uint8Array(1024));
            },
          }),
        );
      }
      if (path === "/empty") return new Response(null, { status: 204 });
      return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array(1)); } })); // never ends
    },
  });
});
afterAll(() => server.stop(true));
const url = (p: string) => `http://127.0.0.1:${server.port}${p}`;

test("a small body is handed on buffered, status and headers kept", async () => {
  const r = await boundedFetch(url("/small"), {}, { timeoutMs: 2000 });
  expect(r.status).toBe(200);
  expect(r.headers.get("x-a")).toBe("1");
  expect(await r.json()).toEqual({ ok: true });
  expect((await boundedFetch(url("/empty"), {}, { timeoutMs: 2000 })).status).toBe(204);
});

test("too large: refused by Content-Length, or while streaming without reading on", async () => {
  await expect(boundedFetch(url("/declared"), {}, { timeoutMs: 2000, maxBytes: 1000 })).rejects.toBeInstanceOf(ResponseTooLarge);
  streamed = 0;
  const e = await boundedFetch(url("/stream"), {}, { timeoutMs: 5000, maxBytes: 64 * 1024 }).catch((x) => x);
  expect(e).toBeInstanceOf(ResponseTooLarge);
  expect((e as Error).message).toContain("larger than 64 KiB");
  expect(streamed).toBeLessThan(16 * 1024 * 1024); // an endless stream: what the server got to write (socket buffers included)
});

test("a body that never ends: TimeoutError at the deadline", async () => {
  const started = performance.now();
  const e = await boundedFetch(url("/forever"), {}, { timeoutMs: 300 }).catch((x) => x);
  expect((e as Error).name).toBe("TimeoutError");
  expect(performance.now() - started).toBeLessThan(2000);
});
