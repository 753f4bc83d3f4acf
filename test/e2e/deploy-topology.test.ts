/**
 * deploy/ without a container engine: the topology of deploy/compose.yaml run for real from the
 * same files — a redis-server, two proxy processes (the compose replicas' flags: Redis state,
 * fail-closed, trusted forwarded headers, the example's idle timeout) and haproxy started from
 * deploy/haproxy.cfg with its addresses templated through the environment. Requests, an SSE
 * stream and the admin report go through haproxy; `haproxy -c` validates the file; with no
 * replica up haproxy answers its own 503 in the Anthropic shape (deploy/haproxy-503.http);
 * compose.yaml is parsed to check it wires the same files, secrets and addresses; deploy/secrets/
 * is ignored by git; the replicas' start-up lines name their state store (no password).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parse } from "yaml";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { ADMIN_KEY, admin, messageBody, post, useGateway } from "../support/gateway.ts";
import { portBlock } from "../support/ports.ts";
import { BUN, ROOT } from "../support/tenant.ts";

const HAPROXY_CFG = join(ROOT, "deploy/haproxy.cfg");
const COMPOSE_TEXT = readFileSync(join(ROOT, "deploy/compose.yaml"), "utf8");
/** The proxies' idle timeout as compose sets it (over the example file's). */
const IDLE_TIMEOUT = Number((parse(COMPOSE_TEXT) as { services: Record<string, { environment: Record<string, string> }> }).services["proxy-1"]!.environment.AGENT_RUNNER_PROXY_IDLE_TIMEOUT);
const EXAMPLE = JSON.parse(readFileSync(join(ROOT, "deploy/tenants.example.json"), "utf8")) as { tenants: Record<string, { upstreamApiKeyFile?: string; upstreamApiKeyEnv?: string }> };

const gateway = useGateway();
let redis: TestRedis;
const children: ChildProcess[] = [];
const proxies: { url: string; metrics: string; child: ChildProcess }[] = [];
let lb = "";

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** A replica as compose runs it (one worker here: the machine has two cores for everything). */
async function startReplica(): Promise<(typeof proxies)[number]> {
  const metricsPort = await freePort();
  const child = spawn(BUN, [
    join(ROOT, "src/proxy/main.ts"), "--workers", "1", "--issuer", gateway.forge.issuer, "--client-id", "agent-runner-cli", "--upstream", gateway.stub.url,
    "--upstream-key-file", gateway.files.upstreamKeyFile, "--host", "127.0.0.1", "--port", "0", "--metrics-port", String(metricsPort),
    "--state", redis.url, "--state-failure", "closed", "--trust-forwarded-headers", "--idle-timeout", String(IDLE_TIMEOUT),
    "--admin-key-file", gateway.files.adminKeyFile, "--shutdown-grace", "5",
  ], {
    stdio: ["ignore", "ignore", "pipe"],
    // set, so main.ts serves in this very process (no re-run): a SIGKILL below hits the server itself
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" },
  });
  children.push(child);
  let stderr = "";
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (l) => {
      stderr += l + "\n";
      if (l.includes("listening on")) resolve(l);
    });
    child.once("exit", (code) => reject(new Error(`proxy exited with ${code}: ${stderr}`)));
  });
  const url = String(JSON.parse(line).message).replace("listening on ", "");
  startLines.push(JSON.parse(line) as Record<string, unknown>);
  return { url, metrics: `http://127.0.0.1:${metricsPort}/metrics`, child };
}

/** Each replica's start-up line. */
const startLines: Record<string, unknown>[] = [];

function haproxyEnv(bind: string) {
  return { ...process.env, LB_BIND: bind, PROXY_1: new URL(proxies[0]!.url).host, PROXY_2: new URL(proxies[1]!.url).host };
}

const servedBy = async (metricsUrl: string) => [...(await (await fetch(metricsUrl)).text()).matchAll(/^proxy_requests_total\{[^}]*route="messages"[^}]*status="200"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);

beforeAll(async () => {
  redis = await startTestRedis();
  proxies.push(await startReplica(), await startReplica());
  const lbPort = await freePort();
  lb = `http://127.0.0.1:${lbPort}`;
  const haproxy = spawn("haproxy", ["-f", HAPROXY_CFG, "-db"], { stdio: ["ignore", "ignore", "pipe"], env: haproxyEnv(`127.0.0.1:${lbPort}`) });
  children.push(haproxy);
  let haproxyErr = "";
  haproxy.stderr!.on("data", (d) => (haproxyErr += d));
  haproxy.once("exit", (code) => code !== null && code !== 0 && console.error(`haproxy exited with ${code}: ${haproxyErr}`));
  // up once both replicas pass their /readyz check (rise 2 x inter 2 s)
  const token = await gateway.forge.sign({ sub: "sub-warmup", username: "warmup" });
  for (let i = 0; i < 100; i++) {
    const ok = await post(lb, token, messageBody()).then((r) => r.status === 200, () => false);
    if (ok && (await servedBy(proxies[0]!.metrics)) > 0 && (await servedBy(proxies[1]!.metrics)) > 0) break;
    await Bun.sleep(100);
  }
}, 60_000);

afterAll(async () => {
  for (const c of children.reverse()) c.kill("SIGTERM");
  await redis?.dispose();
});

describe("deploy/haproxy.cfg", () => {
  test("haproxy -c accepts it with the compose addresses; without them it names what is missing", () => {
    const ok = Bun.spawnSync(["haproxy", "-c", "-f", HAPROXY_CFG], { env: { ...process.env, LB_BIND: ":8080", PROXY_1: "127.0.0.1:8081", PROXY_2: "127.0.0.1:8082" }, stderr: "pipe", stdout: "pipe" });
    expect(ok.exitCode).toBe(0);
    const missing = Bun.spawnSync(["haproxy", "-c", "-f", HAPROXY_CFG], { env: { PATH: process.env.PATH ?? "" }, stderr: "pipe", stdout: "pipe" });
    expect(missing.exitCode).not.toBe(0);
  });

  test("its keep-alive timeout is below the proxy's idle timeout, its stream timeouts far above it", () => {
    const cfg = readFileSync(HAPROXY_CFG, "utf8");
    const seconds = (name: string) => {
      const m = new RegExp(`timeout ${name} (\\d+)(s|m)`).exec(cfg)!;
      return Number(m[1]) * (m[2] === "m" ? 60 : 1);
    };
    expect(IDLE_TIMEOUT).toBeGreaterThan(0);
    expect(seconds("http-keep-alive")).toBeLessThan(IDLE_TIMEOUT);
    expect(seconds("server")).toBeGreaterThanOrEqual(600);
    expect(seconds("client")).toBeGreaterThanOrEqual(600);
    expect(cfg).toMatch(/http-check send meth GET uri \/readyz/);
  });

  test("with no replica up, haproxy's own 503 is JSON in the Anthropic error shape with retry-after, as a client reads the API's overload", async () => {
    const [lbPort, dead1, dead2] = portBlock(3) as [number, number, number];
    // started from another directory: the errorfile is found beside haproxy.cfg, not in the cwd
    const alone = spawn("haproxy", ["-f", HAPROXY_CFG, "-db"], { cwd: "/", stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LB_BIND: `127.0.0.1:${lbPort}`, PROXY_1: `127.0.0.1:${dead1}`, PROXY_2: `127.0.0.1:${dead2}` } });
    children.push(alone);
    let response: Response | undefined;
    for (let i = 0; i < 50 && !response; i++) response = await fetch(`http://127.0.0.1:${lbPort}/anthropic/v1/messages`, { method: "POST", body: "{}" }).catch(() => Bun.sleep(100).then(() => undefined));
    expect(response!.status).toBe(503);
    expect(response!.headers.get("content-type")).toBe("application/json");
    expect(response!.headers.get("retry-after")).toBe("5");
    const body = (await response!.json()) as { type: string; error: { type: string; message: string } };
    expect(body).toEqual({ type: "error", error: { type: "overloaded_error", message: expect.stringContaining("retry") } });
    alone.kill("SIGTERM");
  }, 20_000);

  test("the errorfile is a whole HTTP message: CRLF head, content-length equal to its JSON body", () => {
    const raw = readFileSync(join(ROOT, "deploy/haproxy-503.http"), "latin1");
    const [head, body] = [raw.slice(0, raw.indexOf("\r\n\r\n")), raw.slice(raw.indexOf("\r\n\r\n") + 4)];
    expect(head.split("\r\n")[0]).toBe("HTTP/1.1 503 Service Unavailable");
    expect(Number(/\r\ncontent-length: (\d+)/i.exec(head)![1])).toBe(Buffer.byteLength(body));
    expect(JSON.parse(body).error.type).toBe("overloaded_error");
    // retry-after covers a replica's way back: about 1 s to see the store, then rise x inter
    const cfg = readFileSync(HAPROXY_CFG, "utf8");
    const [, inter, rise] = /default-server inter (\d+)s fall \d+ rise (\d+)/.exec(cfg)!;
    expect(Number(/\r\nretry-after: (\d+)/i.exec(head)![1])).toBeGreaterThanOrEqual(Number(inter) * Number(rise));
    expect(cfg).toMatch(/^\s*errorfile 503 haproxy-503\.http$/m);
    expect(cfg).toMatch(/^\s*default-path config$/m);
  });

  test("haproxy's 502 and 504 are whole HTTP messages in the Anthropic error shape too", () => {
    const cfg = readFileSync(HAPROXY_CFG, "utf8");
    for (const [code, reason] of [[502, "Bad Gateway"], [504, "Gateway Timeout"]] as const) {
      expect(cfg).toMatch(new RegExp(`^\\s*errorfile ${code} haproxy-${code}\\.http$`, "m"));
      const raw = readFileSync(join(ROOT, `deploy/haproxy-${code}.http`), "latin1");
      const [head, body] = [raw.slice(0, raw.indexOf("\r\n\r\n")), raw.slice(raw.indexOf("\r\n\r\n") + 4)];
      expect(head.split("\r\n")[0]).toBe(`HTTP/1.1 ${code} ${reason}`);
      expect(head).toMatch(/\r\ncontent-type: application\/json(\r\n|$)/);
      expect(Number(/\r\ncontent-length: (\d+)/i.exec(head)![1])).toBe(Buffer.byteLength(body));
      expect(JSON.parse(body)).toEqual({ type: "error", error: { type: "api_error", message: expect.any(String) } });
    }
  });
});

describe("deploy/secrets", () => {
  test("is ignored by git: compose's secrets are never committed", () => {
    const ignored = Bun.spawnSync(["git", "check-ignore", "deploy/secrets/anything"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(ignored.exitCode).toBe(0);
    // and only it: the recipe's own files are tracked
    expect(Bun.spawnSync(["git", "check-ignore", "deploy/haproxy.cfg"], { cwd: ROOT }).exitCode).toBe(1);
  });
});

describe("two replicas + Redis behind haproxy", () => {
  test("each replica's start-up line says which state store, failure policy and spool directory are in force", () => {
    expect(startLines).toHaveLength(2);
    for (const line of startLines) {
      expect(line).toMatchObject({ state: redis.url, state_failure: "closed" });
      expect(String(line.spool_dir)).toMatch(/\/redis-[0-9a-f]{12}$/);
    }
  });

  test("a Redis URL's password is never in the start-up line", async () => {
    const child = spawn(BUN, [join(ROOT, "src/proxy/main.ts"), "--workers", "1", "--issuer", gateway.forge.issuer, "--client-id", "agent-runner-cli", "--upstream-key-file", gateway.files.upstreamKeyFile, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "off", "--state-failure", "open", "--spool-dir", join(gateway.files.dir, "spool-secret")], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "65535", AGENT_RUNNER_PROXY_STATE: `${redis.url.replace("redis://", "redis://gateway:s3cr3t-p@ss@")}` },
    });
    children.push(child);
    let stderr = "";
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on("line", (l) => {
        stderr += l + "\n";
        if (l.includes("listening on")) resolve(l);
      });
      child.once("exit", (code) => reject(new Error(`proxy exited with ${code}: ${stderr}`)));
    });
    child.kill("SIGTERM");
    expect(JSON.parse(line)).toMatchObject({ state: `${redis.url.replace("redis://", "redis://***@")}`, state_failure: "open", spool_dir: expect.stringMatching(/spool-secret\/redis-[0-9a-f]{12}$/) });
    expect(stderr).not.toContain("s3cr3t");
  }, 20_000);

  test("requests are spread over both replicas, and the one ledger in Redis has them all", async () => {
    const token = await gateway.forge.sign({ sub: "sub-lb", username: "lb" });
    const before = [await servedBy(proxies[0]!.metrics), await servedBy(proxies[1]!.metrics)];
    for (let i = 0; i < 20; i++) expect((await post(lb, token, messageBody(), { keepalive: false } as RequestInit)).status).toBe(200);
    const after = [await servedBy(proxies[0]!.metrics), await servedBy(proxies[1]!.metrics)];
    expect(after[0]! - before[0]! + after[1]! - before[1]!).toBe(20);
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
    const rows = (await (await admin(lb, "usage", ADMIN_KEY)).json()) as { sub: string; requests: number }[];
    expect(rows.find((r) => r.sub === "sub-lb")?.requests).toBe(20);
  });

  test("an SSE stream passes through event by event, not buffered to the end", async () => {
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 200, events: 10 }) });
    try {
      const token = await gateway.forge.sign({ sub: "sub-sse", username: "sse" });
      const started = performance.now();
      const response = await post(lb, token, messageBody({ stream: true }));
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const arrivals: number[] = [];
      let text = "";
      const decoder = new TextDecoder();
      for await (const chunk of response.body!) {
        arrivals.push(performance.now() - started);
        text += decoder.decode(chunk, { stream: true });
      }
      const total = performance.now() - started;
      expect(text).toContain("event: message_start");
      expect(text).toContain("event: message_stop");
      // events arrive spread over the stream's ~2 s, the first long before the end
      expect(arrivals.length).toBeGreaterThan(4);
      expect(arrivals[0]!).toBeLessThan(total - 1000);
    } finally {
      await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal" }) });
    }
  }, 20_000);

  test("the public port never serves /metrics; the forwarded headers haproxy sets reach the proxy (discovery names the public host), a client's own X-Forwarded-Host does not", async () => {
    expect((await fetch(`${lb}/metrics`)).status).toBe(404);
    const doc = (await (await fetch(`${lb}/.well-known/oauth-protected-resource/anthropic`, { headers: { host: "acme.proxy.example.com", "x-forwarded-host": "evil.example" } })).json()) as { resource: string };
    expect(doc.resource).toStartWith("http://acme.proxy.example.com");
  });

  test("a replica killed with SIGKILL: requests keep succeeding on the other (retry, then the health check takes it out)", async () => {
    const token = await gateway.forge.sign({ sub: "sub-failover", username: "failover" });
    proxies[0]!.child.kill("SIGKILL");
    await new Promise((r) => proxies[0]!.child.once("exit", r));
    // really gone: its port refuses connections
    await expect(fetch(`${proxies[0]!.url}/healthz`)).rejects.toThrow();
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await post(lb, token, messageBody(), { keepalive: false } as RequestInit)).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
  }, 20_000);
});

describe("deploy/compose.yaml", () => {
  const compose = parse(COMPOSE_TEXT) as {
    services: Record<string, { image?: string; build?: { context: string; dockerfile: string }; environment?: Record<string, string>; volumes?: string[]; secrets?: string[]; ports?: string[] }>;
    secrets: Record<string, { file: string }>;
  };

  test("redis, two proxy replicas from deploy/Containerfile sharing Redis, and haproxy with this haproxy.cfg pointing at both", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["haproxy", "proxy-1", "proxy-2", "redis"]);
    expect(compose.services.redis!.image).toMatch(/^redis:7/);
    for (const name of ["proxy-1", "proxy-2"]) {
      const p = compose.services[name]!;
      expect(readFileSync(join(ROOT, "deploy", p.build!.context, p.build!.dockerfile), "utf8")).toContain("src/proxy/main.ts");
      expect(p.environment!.AGENT_RUNNER_PROXY_STATE).toBe("redis://redis:6379/0");
      expect(["open", "closed"]).toContain(p.environment!.AGENT_RUNNER_PROXY_STATE_FAILURE!);
      const mount = p.volumes!.find((v) => v.endsWith(`:${p.environment!.AGENT_RUNNER_PROXY_CONFIG}:ro`))!;
      expect(JSON.parse(readFileSync(join(ROOT, "deploy", mount.split(":")[0]!), "utf8"))).toEqual(EXAMPLE);
      // every key the example config reads is provided: files as secrets, variables in the environment
      for (const t of Object.values(EXAMPLE.tenants)) {
        if (t.upstreamApiKeyFile) expect(p.secrets!.map((s) => `/run/secrets/${s}`)).toContain(t.upstreamApiKeyFile);
        if (t.upstreamApiKeyEnv) expect(Object.keys(p.environment!)).toContain(t.upstreamApiKeyEnv);
      }
      expect(p.secrets!.map((s) => `/run/secrets/${s}`)).toContain(p.environment!.AGENT_RUNNER_PROXY_ADMIN_KEY_FILE!);
    }
    const lbService = compose.services.haproxy!;
    expect(lbService.volumes).toContain("./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro");
    // every errorfile the cfg names is mounted beside it (default-path config)
    for (const [, file] of readFileSync(HAPROXY_CFG, "utf8").matchAll(/^\s*errorfile \d+ (\S+)$/gm)) expect(lbService.volumes).toContain(`./${file}:/usr/local/etc/haproxy/${file}:ro`);
    expect(lbService.environment).toEqual({ LB_BIND: ":8080", PROXY_1: "proxy-1:8080", PROXY_2: "proxy-2:8080" });
    const cfg = readFileSync(HAPROXY_CFG, "utf8");
    for (const v of Object.keys(lbService.environment!)) expect(cfg).toContain(`"\${${v}}"`);
  });
});
