/**
 * The tenant proxy under attack, over real sockets: raw HTTP/1.1 written with node:net (so no
 * client normalises the request line for us) to the real proxy, in front of an upstream that
 * records every request it receives. Each attack must get the proxy's own error, in Anthropic's
 * shape with a request-id and a logged reject_reason, and the upstream must receive nothing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startProxy, type RunningProxy } from "../../src/proxy/http/server.ts";
import type { LogLine } from "../../src/proxy/telemetry/log.ts";
import type { ProxyConfig, TenantConfig } from "../../src/proxy/config.ts";
import { startForge, type Forge } from "../support/forge.ts";
import { tenantConfig, UPSTREAM_KEY } from "../support/gateway.ts";
import { BUN, ROOT } from "../support/tenant.ts";
import { randomPort } from "../support/ports.ts";

const HOST = "acme.proxy.example.test";
const MAX_BODY = 64 * 1024;

/** An upstream that records every request line it is sent, before reading any body. */
function startRecorder() {
  const seen: string[] = [];
  let sseGapMs = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      seen.push(`${request.method} ${url.pathname}${url.search}`);
      const body = await request.text();
      if (url.pathname === "/v1/messages" && body.includes('"stream":true')) {
        let sent = 0;
        return new Response(
          new ReadableStream({
            async pull(controller) {
              if (sent > 0) await Bun.sleep(sseGapMs);
              if (sent++ === 3) return controller.close();
              controller.enqueue(new TextEncoder().encode(`event: ping\ndata: {"type":"ping","n":${sent}}\n\n`));
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      return Response.json({ ok: true, bytes: body.length }, { headers: { "request-id": "req_recorder" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, setGap: (ms: number) => (sseGapMs = ms), stop: () => server.stop(true) };
}

let forge: Forge;
let recorder: ReturnType<typeof startRecorder>;
let proxy: RunningProxy;
let logs: LogLine[] = [];
let token: string;

const tenant = (slug: string, extra: Partial<TenantConfig> = {}) => tenantConfig({ issuer: forge.issuer, jwksUri: forge.jwksUri, upstream: recorder.url }, slug, extra);

function config(extra: Partial<ProxyConfig> = {}): ProxyConfig {
  return { domain: "proxy.example.test", tenants: new Map([["acme", tenant("acme")]]), trustForwardedHeaders: false, shutdownGraceMs: 100, maxBodyBytes: MAX_BODY, ...extra };
}

beforeAll(async () => {
  forge = await startForge();
  recorder = startRecorder();
  proxy = startProxy({ config: config(), port: 0, hostname: "127.0.0.1", metrics: { port: 0 }, log: (line) => logs.push(line) });
  await proxy.ready();
  token = await forge.sign();
});
afterAll(async () => {
  await proxy.shutdown(100);
  recorder.stop();
  forge.stop();
});
beforeEach(() => {
  logs = [];
  recorder.seen.length = 0;
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parse(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = text.slice(0, end === -1 ? text.length : end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body: end === -1 ? "" : text.slice(end + 4) };
}

/** Sends exactly these bytes on a new connection and reads the answer until the server closes. */
function raw(port: number, bytes: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("error", () => {}); // a reset after the answer is fine; the answer is what we check
    socket.on("close", () => (text ? resolve(parse(text)) : reject(new Error("no answer"))));
    socket.write(bytes);
    setTimeout(() => socket.destroy(), timeoutMs);
  });
}

const port = () => Number(new URL(proxy.url).port);

function request(method: string, target: string, headers: Record<string, string> = {}, body = ""): string {
  const all: Record<string, string> = { host: HOST, authorization: `Bearer ${token}`, connection: "close", ...headers };
  if (body) all["content-length"] = String(Buffer.byteLength(body));
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n${body}`;
}

async function expectRefused(response: RawResponse, status: number, type: string, reason: string) {
  expect(response.status).toBe(status);
  const body = JSON.parse(response.body);
  expect(body).toMatchObject({ type: "error", error: { type } });
  expect(response.headers["request-id"]).toStartWith("req_proxy_");
  expect(body.request_id).toBe(response.headers["request-id"]);
  await Bun.sleep(20);
  const line = logs.find((l) => l.request_id === response.headers["request-id"]);
  expect(line).toMatchObject({ status, reject_reason: reason });
  expect(JSON.stringify(line)).not.toContain(token);
}

describe("only the allowlisted API goes upstream", () => {
  test("the four routes, under both base URLs, reach exactly their upstream path", async () => {
    const ok: [string, string, string][] = [
      ["POST", "/anthropic/v1/v1/messages?beta=true", "POST /v1/messages?beta=true"],
      ["POST", "/anthropic/v1/messages", "POST /v1/messages"],
      ["POST", "/anthropic/v1/v1/messages/count_tokens", "POST /v1/messages/count_tokens"],
      ["GET", "/anthropic/v1/models", "GET /v1/models"],
      ["GET", "/anthropic/v1/v1/models/claude-sonnet-4-5-20250929", "GET /v1/models/claude-sonnet-4-5-20250929"],
    ];
    for (const [method, target, upstream] of ok) {
      recorder.seen.length = 0;
      const response = await raw(port(), request(method, target, {}, method === "POST" ? "{}" : ""));
      expect(response.status).toBe(200);
      expect(recorder.seen).toEqual([upstream]);
    }
    expect((await raw(port(), request("HEAD", "/anthropic/v1", { authorization: "" }))).status).toBe(200);
    expect(recorder.seen).toHaveLength(1);
  });

  const attacks: [string, string][] = [
    ["GET", "/anthropic/v1/v1/admin"],
    ["GET", "/anthropic/v1/internal/keys"],
    ["GET", "/anthropic/v1/v1/models/../../admin"],
    ["GET", "/anthropic/v1/v1/models/../../../v2/secret"],
    ["GET", "/anthropic/v1/v1/models/%2e%2e/%2e%2e/%2e%2e/internal"],
    ["GET", "/anthropic/v1/v1/models%2f..%2f..%2fadmin"],
    ["GET", "/anthropic/v1/v1/models/%2F..%2F..%2Fadmin"],
    ["GET", "/anthropic/v1/v1/models/%252e%252e%252fadmin"],
    ["GET", "/anthropic/v1/v1/models/%5c..%5cadmin"],
    ["GET", "/anthropic/v1/v1/models\\..\\..\\admin"],
    ["GET", "/anthropic//v1/models"],
    ["GET", "/anthropic/v1//v1/models"],
    ["GET", "/anthropic/v1/v1/./admin"],
    ["GET", "/anthropic/v1/v1/models/a~b"],
    ["GET", `/anthropic/v1/v1/models/${"m".repeat(200)}`],
    ["GET", "/anthropic/v1/v1/models/claude%00"],
    ["GET", "/anthropic/v1/v1/v1/models"],
    ["GET", "/anthropic/v1/v1/messages"],
    ["DELETE", "/anthropic/v1/v1/models/claude-x"],
    ["PUT", "/anthropic/v1/v1/messages"],
    ["GET", "http://evil.example/anthropic/v1/v1/admin"],
    ["GET", "http://evil.example/admin"],
    ["GET", "/anthropic/v1/v1/messages#/../../admin"],
  ];
  for (const [method, target] of attacks) {
    test(`${method} ${target.slice(0, 70)} is 404 and never forwarded`, async () => {
      await expectRefused(await raw(port(), request(method, target, {}, method === "GET" ? "" : "{}")), 404, "not_found_error", expect.stringMatching(/^(not_allowed|ambiguous_path|bad_model_id)$/) as unknown as string);
      expect(recorder.seen).toEqual([]);
    });
  }

  test("a query that smuggles a path is refused; a query is re-encoded, never a path", async () => {
    await expectRefused(await raw(port(), request("GET", "/anthropic/v1/v1/models?/../../admin")), 400, "invalid_request_error", "bad_query");
    expect(recorder.seen).toEqual([]);
    expect((await raw(port(), request("GET", "/anthropic/v1/v1/models?after_id=/../../admin"))).status).toBe(200);
    expect(recorder.seen).toEqual(["GET /v1/models?after_id=%2F..%2F..%2Fadmin"]);
  });

  test("an absolute-form request line cannot change the upstream", async () => {
    expect((await raw(port(), request("GET", "http://evil.example/anthropic/v1/v1/models"))).status).toBe(200);
    expect(recorder.seen).toEqual(["GET /v1/models"]);
  });

  test("Message Batches and Files stay closed (they act on the whole workspace)", async () => {
    for (const [method, target] of [
      ["POST", "/anthropic/v1/v1/messages/batches"],
      ["GET", "/anthropic/v1/v1/messages/batches"],
      ["GET", "/anthropic/v1/messages/batches/msgbatch_01/results"],
      ["POST", "/anthropic/v1/v1/messages/batches/msgbatch_01/cancel"],
      ["DELETE", "/anthropic/v1/v1/messages/batches/msgbatch_01"],
      ["GET", "/anthropic/v1/v1/files"],
      ["POST", "/anthropic/v1/files"],
      ["GET", "/anthropic/v1/v1/files/file_01/content"],
      ["DELETE", "/anthropic/v1/files/file_01"],
    ] as const) {
      await expectRefused(await raw(port(), request(method, target, {}, method === "GET" ? "" : "{}")), 404, "not_found_error", "not_allowed");
    }
    expect(recorder.seen).toEqual([]);
  });
});

describe("Host", () => {
  const bad = ["acme.proxy.example.test:99999", "acme.proxy.example.test:abc", "acme.proxy.example.test:", "a b", "acme.proxy.example.test/x", "user@acme.proxy.example.test", "acme.proxy.example.test:1:2", "ácme.proxy.example.test", "[zz]:80"];
  for (const host of bad) {
    test(`Host "${host}" is 400 invalid_request_error (API and discovery), never forwarded`, async () => {
      await expectRefused(await raw(port(), request("GET", "/anthropic/v1/v1/models", { host })), 400, "invalid_request_error", "bad_host");
      await expectRefused(await raw(port(), request("GET", "/.well-known/oauth-protected-resource/anthropic", { host })), 400, "invalid_request_error", "bad_host");
      expect(recorder.seen).toEqual([]);
    });
  }

  test("no Host (HTTP/1.0) is 400", async () => {
    await expectRefused(await raw(port(), `GET /anthropic/v1/v1/models HTTP/1.0\r\nauthorization: Bearer ${token}\r\n\r\n`), 400, "invalid_request_error", "bad_host");
    expect(recorder.seen).toEqual([]);
  });

  test("a valid Host with a port names the tenant; the upstream stays the configured one", async () => {
    expect((await raw(port(), request("GET", "/anthropic/v1/v1/models", { host: `${HOST}:8443` }))).status).toBe(200);
    expect(recorder.seen).toEqual(["GET /v1/models"]);
    const discovery = await raw(port(), request("GET", "/.well-known/oauth-protected-resource/anthropic", { host: `${HOST}:8443` }));
    expect(JSON.parse(discovery.body).resource).toBe(`http://${HOST}:8443/anthropic`);
  });

  test("trusted X-Forwarded-Host/-Proto are validated the same way", async () => {
    const trusting = startProxy({ config: config({ trustForwardedHeaders: true }), port: 0, hostname: "127.0.0.1", log: (line) => logs.push(line) });
    try {
      const p = Number(new URL(trusting.url).port);
      const path = "/.well-known/oauth-protected-resource/anthropic";
      await expectRefused(await raw(p, request("GET", path, { "x-forwarded-host": "evil.example/phish?" })), 400, "invalid_request_error", "bad_forwarded_host");
      await expectRefused(await raw(p, request("GET", path, { "x-forwarded-proto": "javascript" })), 400, "invalid_request_error", "bad_forwarded_host");
      const ok = await raw(p, request("GET", path, { "x-forwarded-host": `${HOST}`, "x-forwarded-proto": "https" }));
      expect(JSON.parse(ok.body).resource).toBe(`https://${HOST}/anthropic`);
    } finally {
      await trusting.shutdown(100);
    }
  });
});

describe("body size", () => {
  test("a declared Content-Length over the limit is 413 request_too_large, not forwarded", async () => {
    const body = JSON.stringify({ pad: "x".repeat(MAX_BODY) });
    await expectRefused(await raw(port(), request("POST", "/anthropic/v1/v1/messages", {}, body)), 413, "request_too_large", "body_too_large");
    expect(recorder.seen).toEqual([]);
  });

  test("a Content-Length past Bun's own cap still gets the API's shape (headers only sent)", async () => {
    const head = request("POST", "/anthropic/v1/v1/messages", { "content-length": String(200 * 1024 * 1024) });
    await expectRefused(await raw(port(), head + "{"), 413, "request_too_large", "body_too_large");
    expect(recorder.seen).toEqual([]);
  });

  test("a chunked body that grows past the limit is 413, and never reaches the upstream", async () => {
    const chunk = "x".repeat(16 * 1024);
    const chunks = Array.from({ length: 6 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join("");
    const head = request("POST", "/anthropic/v1/v1/messages", { "transfer-encoding": "chunked" });
    await expectRefused(await raw(port(), head + chunks + "0\r\n\r\n"), 413, "request_too_large", "body_too_large");
    expect(recorder.seen).toEqual([]);
    // under the limit, chunked passes whole
    const small = `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
    const ok = await raw(port(), head + small);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).bytes).toBe(chunk.length);
  });

  test("a chunked body that passes the limit while streaming (past the buffered first MiB) is 413", async () => {
    const big = startProxy({ config: config({ maxBodyBytes: 2 * 1024 * 1024 }), port: 0, hostname: "127.0.0.1", log: (line) => logs.push(line) });
    try {
      const chunk = "x".repeat(256 * 1024);
      const chunks = Array.from({ length: 12 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join("");
      const head = request("POST", "/anthropic/v1/v1/messages", { "transfer-encoding": "chunked" });
      await expectRefused(await raw(Number(new URL(big.url).port), head + chunks + "0\r\n\r\n"), 413, "request_too_large", "body_too_large");
    } finally {
      await big.shutdown(100);
    }
  });
});

describe("metrics, health and readiness", () => {
  test("/metrics is not on the main listener; its own listener serves it", async () => {
    await expectRefused(await raw(port(), request("GET", "/metrics", { authorization: "" })), 404, "not_found_error", "not_allowed");
    await expectRefused(await raw(port(), request("GET", "/metrics", { authorization: "", host: "127.0.0.1" })), 404, "not_found_error", "unknown_tenant");
    await raw(port(), request("GET", "/anthropic/v1/v1/models"));
    expect(proxy.metricsUrl).toStartWith("http://127.0.0.1:");
    const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    expect(text).toContain('proxy_requests_total{tenant="acme",route="models",status="200"}');
  });

  test("/healthz and /readyz say nothing about tenants, also when not ready", async () => {
    const down = startProxy({
      config: config({ tenants: new Map([["acme", tenant("acme", { jwksUri: "http://127.0.0.1:9/secret-tenant-pool/.well-known/jwks.json" })]]) }),
      port: 0,
      hostname: "127.0.0.1",
      log: () => {},
    });
    try {
      for (const url of [`${down.url}/healthz`, `${down.url}/readyz`, `${proxy.url}/readyz`]) {
        const text = await (await fetch(url)).text();
        expect(text).not.toMatch(/acme|secret-tenant-pool|jwks|127\.0\.0\.1|example/i);
      }
      expect((await fetch(`${down.url}/readyz`)).status).toBe(503);
    } finally {
      await down.shutdown(100);
    }
  });
});

describe("idle connections", () => {
  /** A keep-alive connection; resolves with how long it stayed open after the first answer. */
  function idleSocket(p: number, bytes: string): Promise<{ openMs: number; text: string }> {
    return new Promise((resolve) => {
      const socket: Socket = connect(p, "127.0.0.1");
      let text = "";
      let answeredAt = 0;
      socket.on("data", (d) => {
        text += d;
        answeredAt = performance.now();
      });
      socket.on("error", () => {});
      socket.on("close", () => resolve({ openMs: performance.now() - answeredAt, text }));
      socket.write(bytes);
      setTimeout(() => socket.destroy(), 30_000);
    });
  }

  test("an idle keep-alive connection is closed after --idle-timeout; a stream quieter than that still completes", async () => {
    const short = startProxy({ config: config({ idleTimeoutSeconds: 2 }), port: 0, hostname: "127.0.0.1", log: () => {} });
    try {
      const p = Number(new URL(short.url).port);
      const idle = await idleSocket(p, request("GET", "/anthropic/v1/v1/models", { connection: "keep-alive" }));
      expect(idle.text).toStartWith("HTTP/1.1 200");
      // Bun checks timeouts on a 4 s tick: closed within 2-8 s, not left open
      expect(idle.openMs).toBeLessThan(9_000);
      // gaps of 6 s between events, longer than the idle limit (and than Bun's tick)
      recorder.setGap(6_000);
      const started = performance.now();
      const stream = await idleSocket(p, request("POST", "/anthropic/v1/v1/messages", { connection: "keep-alive" }, JSON.stringify({ stream: true })));
      expect(performance.now() - started).toBeGreaterThan(12_000);
      expect(stream.text).toContain('"n":3');
      expect(stream.text).toContain("\r\n0\r\n\r\n"); // the chunked stream ended properly, not cut
      // and once the stream is over, the same connection is idle-limited again
      expect(stream.openMs).toBeLessThan(9_000);
    } finally {
      recorder.setGap(0);
      await short.shutdown(100);
    }
  }, 45_000);
});

describe("the proxy process (src/proxy/main.ts) and its flags", () => {
  test("--metrics-port/--metrics-host, --max-body-bytes and --idle-timeout; bad values exit 2 with the flag named", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ara-proxysec-"));
    const keyFile = join(dir, "key");
    writeFileSync(keyFile, UPSTREAM_KEY, { mode: 0o600 });
    const common = ["--issuer", forge.issuer, "--client-id", "agent-runner-cli", "--upstream", recorder.url, "--upstream-key-file", keyFile, "--host", "127.0.0.1", "--port", "0"];
    // the refusals below must not depend on the default metrics port 9464 being free on this machine

    const bad = Bun.spawnSync([BUN, join(ROOT, "src/proxy/main.ts"), ...common, "--metrics-port", "off", "--idle-timeout", "0"], { stderr: "pipe" });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain("--idle-timeout must be whole seconds from 1 to 255");
    // Above Bun's own limit: refused as a configuration error, not a misleading start-up failure.
    const tooLong = Bun.spawnSync([BUN, join(ROOT, "src/proxy/main.ts"), ...common, "--metrics-port", "off", "--idle-timeout", "310"], { stderr: "pipe" });
    expect(tooLong.exitCode).toBe(2);
    expect(tooLong.stderr.toString()).toContain("--idle-timeout must be whole seconds from 1 to 255");
    const badBody = Bun.spawnSync([BUN, join(ROOT, "src/proxy/main.ts"), ...common, "--metrics-port", "off", "--max-body-bytes", "lots"], { stderr: "pipe" });
    expect(badBody.exitCode).toBe(2);
    expect(badBody.stderr.toString()).toContain("--max-body-bytes must be a positive whole number of bytes");

    const metricsPort = randomPort();
    const child = spawn(BUN, [join(ROOT, "src/proxy/main.ts"), ...common, "--metrics-port", String(metricsPort), "--max-body-bytes", "1000", "--idle-timeout", "30"], { stdio: ["ignore", "ignore", "pipe"] });
    try {
      const lines = createInterface({ input: child.stderr! })[Symbol.asyncIterator]();
      const started = JSON.parse((await lines.next()).value as string);
      expect(started.metrics).toBe(`http://127.0.0.1:${metricsPort}`);
      // no --state: the default in memory, said once, with what to set instead
      const warning = JSON.parse((await lines.next()).value as string);
      expect(warning).toMatchObject({ level: "warn", state: "sqlite::memory:" });
      expect(warning.message).toContain("--state is not set");
      expect(warning.message).toContain("set --state sqlite:");
      const main = Number(new URL(started.message.replace("listening on ", "")).port);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${main}/metrics`)).status).toBe(404);
      const tooBig = await raw(main, request("POST", "/anthropic/v1/v1/messages", { host: "localhost" }, "x".repeat(1001)));
      expect(tooBig.status).toBe(413);
      expect(JSON.parse(tooBig.body).error.type).toBe("request_too_large");
      expect(recorder.seen).toEqual([]);
    } finally {
      child.kill("SIGTERM");
    }
  }, 30_000);

  test("every flag is checked before anything listens: a busy metrics port does not hide a bad --idle-timeout (supervisor or one process)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ara-proxysec-"));
    const keyFile = join(dir, "key");
    writeFileSync(keyFile, UPSTREAM_KEY, { mode: 0o600 });
    const busy = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("taken") });
    try {
      const common = ["--issuer", forge.issuer, "--client-id", "agent-runner-cli", "--upstream", recorder.url, "--upstream-key-file", keyFile, "--host", "127.0.0.1", "--port", "0", "--metrics-port", String(busy.port), "--idle-timeout", "0"];
      for (const workers of ["2", "1"]) {
        const run = Bun.spawnSync([BUN, join(ROOT, "src/proxy/main.ts"), "--workers", workers, ...common], { stderr: "pipe", env: { ...process.env, NODE_NO_WARNINGS: "1" } });
        const stderr = run.stderr.toString();
        expect(run.exitCode, stderr).toBe(2);
        expect(stderr).toContain("--idle-timeout must be whole seconds from 1 to 255");
        expect(stderr).not.toContain("cannot listen");
      }
    } finally {
      busy.stop(true);
    }
  }, 30_000);
});
