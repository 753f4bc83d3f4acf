/**
 * Benchmark experiment only (bench/proxy.ts; not wired into the proxy): is Bun's `fetch` client
 * the ceiling of a Bun gateway? Two minimal pass-through servers, no auth, no metrics, no logs:
 *   RELAY_MODE=fetch  Bun.serve + fetch(upstream) with the body buffered (what the proxy does for JSON)
 *   RELAY_MODE=relay  Bun.serve + a pool of keep-alive HTTP/1.1 connections on Bun.connect: the
 *                     request written by hand, the response's status line and headers parsed, the
 *                     body copied by Content-Length or chunk by chunk (SSE) as it arrives
 * RELAY_PORT, RELAY_UPSTREAM (http://host:port). GET /healthz answers locally.
 */
import type { Socket } from "bun";

const upstream = new URL(process.env.RELAY_UPSTREAM ?? "http://127.0.0.1:1");
const FORWARDED = ["content-type", "anthropic-version", "anthropic-beta", "x-api-key", "accept"];
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

interface Pending {
  head?: { status: number; headers: Headers; length: number | null; chunked: boolean; close: boolean };
  buffer: Uint8Array;
  resolve(response: Response): void;
  reject(error: Error): void;
  body?: ReadableStreamDefaultController<Uint8Array>;
  remaining: number;
  chunkLeft: number;
}

type Conn = Socket<{ pending: Pending | null }>;
const idle: Conn[] = [];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

function done(socket: Conn, p: Pending): void {
  socket.data.pending = null;
  if (p.head?.close) socket.end();
  else idle.push(socket);
}

/** Consumes what arrived: the head once, then the body by length or by chunks. */
function onData(socket: Conn, chunk: Uint8Array): void {
  const p = socket.data.pending;
  if (!p) return;
  p.buffer = concat(p.buffer, chunk);
  if (!p.head) {
    const end = indexOfCrlfCrlf(p.buffer);
    if (end === -1) return;
    const lines = decoder.decode(p.buffer.subarray(0, end)).split("\r\n");
    const headers = new Headers();
    let length: number | null = null;
    let chunked = false;
    let close = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
      else if (name === "connection") close = value.toLowerCase() === "close";
      if (!HOP.has(name)) headers.append(name, value);
    }
    p.head = { status: Number(lines[0]!.split(" ")[1]), headers, length, chunked, close };
    p.buffer = p.buffer.subarray(end + 4);
    if (!chunked) {
      p.remaining = length ?? 0;
      if (p.buffer.length >= p.remaining) {
        const body = p.buffer.slice(0, p.remaining);
        p.resolve(new Response(body, { status: p.head.status, headers }));
        done(socket, p);
      }
      return;
    }
    p.resolve(new Response(new ReadableStream<Uint8Array>({ start: (c) => void (p.body = c) }, { highWaterMark: 0 }), { status: p.head.status, headers }));
  }
  if (!p.head.chunked) {
    if (p.buffer.length >= p.remaining) {
      p.resolve(new Response(p.buffer.slice(0, p.remaining), { status: p.head.status, headers: p.head.headers }));
      done(socket, p);
    }
    return;
  }
  // chunked: copy each chunk's bytes as they come
  for (;;) {
    if (p.chunkLeft > 0) {
      const take = Math.min(p.chunkLeft, p.buffer.length);
      if (take === 0) return;
      p.body?.enqueue(p.buffer.slice(0, take));
      p.buffer = p.buffer.subarray(take);
      p.chunkLeft -= take;
      if (p.chunkLeft > 0) return;
      p.chunkLeft = -2; // its CRLF
    }
    if (p.chunkLeft === -2) {
      if (p.buffer.length < 2) return;
      p.buffer = p.buffer.subarray(2);
      p.chunkLeft = 0;
    }
    const crlf = p.buffer.indexOf(13);
    if (crlf === -1 || p.buffer.length < crlf + 2) return;
    const size = parseInt(decoder.decode(p.buffer.subarray(0, crlf)), 16);
    p.buffer = p.buffer.subarray(crlf + 2);
    if (size === 0) {
      p.body?.close();
      done(socket, p);
      return;
    }
    p.chunkLeft = size;
  }
}

async function acquire(): Promise<Conn> {
  const socket = idle.pop();
  if (socket) return socket;
  return (await Bun.connect<{ pending: Pending | null }>({
    hostname: upstream.hostname,
    port: Number(upstream.port),
    data: { pending: null },
    socket: {
      data: onData,
      close(s) {
        const i = idle.indexOf(s);
        if (i !== -1) idle.splice(i, 1);
        s.data.pending?.reject(new Error("upstream closed"));
      },
      error(s, e) {
        s.data.pending?.reject(e);
      },
    },
  })) as Conn;
}

async function relay(request: Request, path: string): Promise<Response> {
  const body = new Uint8Array(await request.arrayBuffer());
  let head = `${request.method} ${path} HTTP/1.1\r\nhost: ${upstream.host}\r\ncontent-length: ${body.length}\r\n`;
  for (const name of FORWARDED) {
    const v = request.headers.get(name);
    if (v !== null) head += `${name}: ${v}\r\n`;
  }
  const socket = await acquire();
  return new Promise<Response>((resolve, reject) => {
    socket.data.pending = { buffer: new Uint8Array(0), resolve, reject, remaining: 0, chunkLeft: 0 };
    socket.write(concat(encoder.encode(head + "\r\n"), body));
  });
}

async function passThrough(request: Request, path: string): Promise<Response> {
  const headers = new Headers();
  for (const name of FORWARDED) {
    const v = request.headers.get(name);
    if (v !== null) headers.set(name, v);
  }
  const r = await fetch(new URL(path, upstream), { method: request.method, headers, body: await request.arrayBuffer() });
  return new Response(r.body, { status: r.status, headers: r.headers });
}

const mode = process.env.RELAY_MODE === "relay" ? relay : passThrough;
Bun.serve({
  port: Number(process.env.RELAY_PORT ?? 0),
  hostname: "127.0.0.1",
  fetch(request) {
    const path = request.url.slice(request.url.indexOf("/", 8));
    if (path === "/healthz") return new Response("ok\n");
    return mode(request, path);
  },
});
