/**
 * A real redis-server for tests: loopback only, a free port, a temporary directory, no
 * persistence unless asked. `stop()` ends it (SIGTERM, waited for); `start()` brings it back
 * on the same port and directory.
 */
import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";

export interface TestRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export async function startTestRedis(options: { persistent?: boolean } = {}): Promise<TestRedis> {
  if (!Bun.which("redis-server")) throw new Error("redis-server is not installed: run `bash scripts/system-deps.sh` (Debian: apt-get install redis-server)");
  const dir = mkdtempSync(join(tmpdir(), "ara-redis-"));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}/0`;
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const persistence = options.persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];

  async function start(): Promise<void> {
    proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", ...persistence, "--dir", dir, "--daemonize", "no", "--loglevel", "warning"], { stdout: "ignore", stderr: "pipe" });
    const client = new RedisClient(`redis://127.0.0.1:${port}`, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 200 });
    try {
      for (let i = 0; i < 100; i++) {
        try {
          await client.connect();
          if ((await client.send("PING", [])) === "PONG") return;
        } catch {
          await Bun.sleep(50);
        }
        if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${await new Response(proc.stderr as ReadableStream).text()}`);
      }
      throw new Error(`redis-server on port ${port} did not answer within 5 s`);
    } finally {
      client.close();
    }
  }

  async function stop(): Promise<void> {
    if (!proc || proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    await proc.exited;
  }

  await start();
  return {
    url,
    port,
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A redis-server for one test file: started before its tests, disposed of after them. The handle
 * answers like the server once `beforeAll` has run.
 */
export function useTestRedis(options: { persistent?: boolean } = {}): TestRedis {
  let server: TestRedis | undefined;
  beforeAll(async () => {
    server = await startTestRedis(options);
  });
  afterAll(async () => {
    await server?.dispose();
  });
  const started = (): TestRedis => {
    if (!server) throw new Error("useTestRedis: the server starts in beforeAll; read it from a hook or a test");
    return server;
  };
  return {
    get url() {
      return started().url;
    },
    get port() {
      return started().port;
    },
    start: () => started().start(),
    stop: () => started().stop(),
    dispose: () => started().dispose(),
  };
}
