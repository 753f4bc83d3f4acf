/**
 * A pool behind HTTP without the rest of the gateway: the allowlist of routes.ts, the client's
 * credentials and hop-by-hop headers dropped, the body read whole, the pool's answer returned as
 * it is. No tokens, limits or ledger: this serves clients such as the official SDK in the
 * adaptors' compatibility tests (bedrock-compat.test.ts), where the byte-for-byte comparison is
 * the point; the gateway's own behaviour is tested through its process (gateway-pool.test.ts).
 */
import { afterAll, beforeEach } from "bun:test";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RESOURCE_PATH } from "../../src/shared/tenant-discovery.ts";
import { startStubUpstream } from "../../src/tenant/stub-upstream.ts";
import { startBedrockStandin } from "./bedrock-standin.ts";
import { decideRoute } from "../../src/proxy/http/routes.ts";
import type { Pool, PoolResult } from "../../src/proxy/upstreams/pool.ts";

const DROP = ["host", "authorization", "x-api-key", "cookie", "connection", "keep-alive", "transfer-encoding", "content-length", "accept-encoding"];

export function servePool(pool: Pool, onResult: (result: PoolResult) => void = () => {}) {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const decision = decideRoute(request.method, url.pathname, url.search);
      if (decision.kind === "probe") return new Response(null, { status: 200 }); // Claude Code's start-up HEAD, as the gateway answers it
      if (decision.kind !== "forward") return new Response("not routed", { status: 404 });
      const headers = new Headers(request.headers);
      for (const name of DROP) headers.delete(name);
      const body = request.method === "GET" ? null : new Uint8Array(await request.arrayBuffer());
      const result = await pool.send({ route: decision.route, method: request.method, path: decision.upstreamPath, search: decision.search, headers, body, signal: request.signal });
      onResult(result);
      return result.response;
    },
  });
  return { url: `http://127.0.0.1:${server.port}${RESOURCE_PATH}`, stop: () => server.stop(true) };
}

/**
 * The members a pool test needs, for one test file: two Anthropic stubs (A takes `sk-ant-a`, B
 * `sk-ant-b`), the Bedrock Runtime stand-in taking `aws`, and a directory for key files. Each
 * test starts with every member answering normally and A's request count at zero; all stop after
 * the file.
 */
export function usePoolUpstreams(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `ara-${name}-`));
  const stubA = startStubUpstream({ apiKey: "sk-ant-a" });
  const stubB = startStubUpstream({ apiKey: "sk-ant-b" });
  const aws = { accessKeyId: "ASIAPOOLTEST", secretAccessKey: `${name}-secret`, sessionToken: `${name}-token` };
  const standin = startBedrockStandin({ credentials: [aws] });
  afterAll(() => {
    stubA.stop();
    stubB.stop();
    standin.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const stub of [stubA, stubB]) {
      stub.behave({ mode: "normal" });
      stub.stats.requests = 0;
    }
    stubA.acceptKeys(["sk-ant-a"]);
    standin.behave({ mode: "normal" });
  });
  /** A key file as an operator writes it (owner-only). */
  const keyFile = (file: string, key: string) => {
    const path = join(dir, file);
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    return path;
  };
  /** An atomic write, as docs/upstreams.md and docs/deploy.md tell operators to rotate a key. */
  const rotate = (path: string, key: string) => {
    writeFileSync(`${path}.tmp`, `${key}\n`, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  };
  return { dir, stubA, stubB, aws, standin, keyFile, rotate };
}
