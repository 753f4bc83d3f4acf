/**
 * docs/deploy.md "Hosts without containers", run from the section itself: its variables file
 * (gateway.env) is read out of the document and given, as it says, to two gateway replicas that
 * get nothing else but their own PORT and AGENT_RUNNER_PROXY_METRICS_PORT (so `--workers 2` each,
 * `AGENT_RUNNER_PROXY_HOST`, the spool directory, fail-closed Redis...), in front of the real local
 * tenant (its IdP and its stub as the upstream, the stub's key from the tenant's JSON line), a
 * real redis-server and haproxy started from deploy/haproxy.cfg with the section's variables.
 * Only paths, ports and the tenant's addresses are replaced, as the section's trial does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { tenantAccessToken } from "../support/http-login.ts";
import { portBlock } from "../support/ports.ts";
import { BUN, ROOT, startTenant, type TenantProcess } from "../support/tenant.ts";

const DOC = readFileSync(join(ROOT, "docs/deploy.md"), "utf8");
const SECTION = DOC.slice(DOC.indexOf("## Hosts without containers"), DOC.indexOf("## Shutdown and restarts"));
/** The section's gateway.env, as KEY=VALUE lines in its heredoc. */
const DOC_ENV = Object.fromEntries(
  (/cat > \/etc\/agent-runner\/gateway\.env <<'END'\n([\s\S]*?)\nEND\n/.exec(SECTION)?.[1] ?? "").split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
) as Record<string, string>;
/** The section's two replica command lines: their own port and metrics port. */
const DOC_REPLICAS = [...SECTION.matchAll(/^PORT=(\d+) AGENT_RUNNER_PROXY_METRICS_PORT=(\d+) node_modules\/\.bin\/bun src\/proxy\/main\.ts/gm)].map((m) => ({ port: m[1]!, metrics: m[2]! }));
const DOC_HAPROXY = /^LB_BIND=(\S+) PROXY_1=(\S+) PROXY_2=(\S+) haproxy -f deploy\/haproxy\.cfg/m.exec(SECTION);

interface Replica {
  port: number;
  metricsPort: number;
  child: ChildProcess;
  /** The start-up lines: the supervisor's and each worker's, parsed. */
  lines: Record<string, unknown>[];
  stderr: string;
}

let tenant: TenantProcess;
let redis: TestRedis;
let dir: string;
let env: Record<string, string>;
const replicas: Replica[] = [];
const children: ChildProcess[] = [];
let lb = "";
let token = "";

/** A replica as the section starts it: the variables file, plus its own port and metrics port. */
function startReplica(port: number, metricsPort: number): Promise<Replica> {
  const child = spawn(BUN, [join(ROOT, "src/proxy/main.ts")], { stdio: ["ignore", "ignore", "pipe"], env: { ...env, PORT: String(port), AGENT_RUNNER_PROXY_METRICS_PORT: String(metricsPort) } });
  children.push(child);
  const replica: Replica = { port, metricsPort, child, lines: [], stderr: "" };
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (l) => {
      replica.stderr += l + "\n";
      if (!l.includes("listening on")) return;
      replica.lines.push(JSON.parse(l) as Record<string, unknown>);
      // the supervisor's line, then its two workers' (held until it is out)
      if (replica.lines.length === 3) resolve(replica);
    });
    child.once("exit", (code) => reject(Object.assign(new Error(`replica exited with ${code}: ${replica.stderr}`), { code, stderr: replica.stderr })));
  });
}

const metricsOf = async (r: Replica) => (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
const served = (text: string) => [...text.matchAll(/^proxy_requests_total\{[^}]*route="messages"[^}]*status="200"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
const ask = (init: RequestInit = {}) =>
  fetch(`${lb}/anthropic/v1/messages`, { ...init, method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model: "claude-stub", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }) });

beforeAll(async () => {
  const stubKey = `sk-ant-trial-${crypto.randomUUID().replaceAll("-", "")}`;
  tenant = await startTenant(["--stub-key-env", "ARA_TRIAL_STUB_KEY"], { ARA_TRIAL_STUB_KEY: stubKey });
  redis = await startTestRedis();
  dir = mkdtempSync(join(tmpdir(), "ara-hosts-"));
  writeFileSync(join(dir, "anthropic-key"), tenant.upstream_key!, { mode: 0o400 });
  writeFileSync(join(dir, "admin-key"), "a".repeat(64), { mode: 0o400 });
  env = {
    ...process.env,
    ...DOC_ENV,
    // what the section's trial changes (the tenant's issuer, client and stub), and this machine's paths
    AGENT_RUNNER_PROXY_ISSUER: tenant.issuer,
    AGENT_RUNNER_PROXY_CLIENT_IDS: tenant.client_id,
    AGENT_RUNNER_PROXY_UPSTREAM: tenant.upstream!,
    AGENT_RUNNER_PROXY_UPSTREAM_KEY_FILE: join(dir, "anthropic-key"),
    AGENT_RUNNER_PROXY_ADMIN_KEY_FILE: join(dir, "admin-key"),
    AGENT_RUNNER_PROXY_STATE: redis.url,
    AGENT_RUNNER_PROXY_SPOOL_DIR: join(dir, "spool"),
  } as Record<string, string>;
  const [p1, p2, m1, m2, lbPort] = portBlock(5) as [number, number, number, number, number];
  replicas.push(...(await Promise.all([startReplica(p1, m1), startReplica(p2, m2)])));
  lb = `http://127.0.0.1:${lbPort}`;
  const haproxy = spawn("haproxy", ["-f", join(ROOT, "deploy/haproxy.cfg"), "-db"], { stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, LB_BIND: `127.0.0.1:${lbPort}`, PROXY_1: `127.0.0.1:${p1}`, PROXY_2: `127.0.0.1:${p2}` } });
  children.push(haproxy);
  const user = tenant.users[0]!;
  token = await tenantAccessToken(tenant, user.username, user.password);
  for (let i = 0; i < 100 && !(await ask().then((r) => r.status === 200, () => false)); i++) await Bun.sleep(100);
}, 60_000);

afterAll(async () => {
  for (const c of children.reverse()) c.kill("SIGTERM");
  await redis?.dispose();
  await tenant?.stop();
});

describe("the section as written", () => {
  test("its variables file holds compose's settings for a replica; two replicas with their own ports and metrics ports; haproxy pointed at them", () => {
    expect(DOC_ENV).toMatchObject({
      AGENT_RUNNER_PROXY_STATE: "redis://127.0.0.1:6379/0",
      AGENT_RUNNER_PROXY_STATE_FAILURE: "closed",
      AGENT_RUNNER_PROXY_WORKERS: "2",
      AGENT_RUNNER_PROXY_HOST: "127.0.0.1",
      AGENT_RUNNER_PROXY_TRUST_FORWARDED_HEADERS: "true",
      AGENT_RUNNER_PROXY_IDLE_TIMEOUT: "120",
      AGENT_RUNNER_PROXY_REQUIRED_GROUPS: "developers",
    });
    for (const name of ["AGENT_RUNNER_PROXY_ISSUER", "AGENT_RUNNER_PROXY_CLIENT_IDS", "AGENT_RUNNER_PROXY_UPSTREAM_KEY_FILE", "AGENT_RUNNER_PROXY_ADMIN_KEY_FILE", "AGENT_RUNNER_PROXY_SPOOL_DIR"]) expect(DOC_ENV[name]).toBeTruthy();
    // compose's replica environment has the same values
    const compose = readFileSync(join(ROOT, "deploy/compose.yaml"), "utf8");
    for (const name of ["AGENT_RUNNER_PROXY_STATE_FAILURE", "AGENT_RUNNER_PROXY_IDLE_TIMEOUT", "AGENT_RUNNER_PROXY_WORKERS"]) expect(compose).toMatch(new RegExp(`${name}: "?${DOC_ENV[name]}"?\\n`));
    expect(DOC_REPLICAS).toHaveLength(2);
    expect(new Set(DOC_REPLICAS.map((r) => r.port)).size).toBe(2);
    expect(new Set(DOC_REPLICAS.map((r) => r.metrics)).size).toBe(2);
    expect(DOC_HAPROXY?.slice(2, 4)).toEqual(DOC_REPLICAS.map((r) => `127.0.0.1:${r.port}`));
  });
});

describe("two replicas on one host from the variables alone", () => {
  test("each worker's start-up line names the state store, the failure policy and its spool directory under --spool-dir; the supervisor's names its own metrics port", () => {
    for (const r of replicas) {
      const [supervisor, ...workers] = r.lines;
      expect(supervisor).toMatchObject({ message: `listening on http://127.0.0.1:${r.port}`, metrics: `http://127.0.0.1:${r.metricsPort}`, workers: 2 });
      expect(workers).toHaveLength(2);
      for (const w of workers) {
        expect(w.message).toBe(`listening on http://127.0.0.1:${r.port}`);
        expect(w.state).toBe(redis.url);
        expect(w.state_failure).toBe("closed");
        expect(String(w.spool_dir)).toMatch(new RegExp(`^${join(dir, "spool")}/redis-[0-9a-f]{12}$`));
      }
    }
  });

  test("one metrics port per replica: each answers with its own workers' samples; together they count every request haproxy spread over both", async () => {
    const before = await Promise.all(replicas.map(async (r) => served(await metricsOf(r))));
    for (let i = 0; i < 20; i++) expect((await ask({ keepalive: false })).status).toBe(200);
    const texts = await Promise.all(replicas.map(metricsOf));
    for (const text of texts) {
      expect(text).toContain("proxy_workers 2");
      expect(text).toMatch(/^proxy_worker_scrape_up\{worker="1"\} 1$/m);
    }
    const after = texts.map(served);
    expect(after[0]! - before[0]! + after[1]! - before[1]!).toBe(20);
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
  }, 30_000);

  test("a third replica given a metrics port already taken stops at start, exit 2, naming the port and the variable to change", async () => {
    const [port] = portBlock(1) as [number];
    const error = (await startReplica(port, replicas[0]!.metricsPort).then(
      () => null,
      (e: Error & { code: number; stderr: string }) => e,
    ))!;
    expect(error.code).toBe(2);
    expect(error.stderr).toContain(`cannot listen for metrics on 127.0.0.1:${replicas[0]!.metricsPort}`);
    expect(error.stderr).toContain("AGENT_RUNNER_PROXY_METRICS_PORT");
  }, 30_000);

  test("AGENT_RUNNER_PROXY_TRUST_FORWARDED_HEADERS=true: the discovery document through haproxy names the public host it was asked for", async () => {
    // haproxy sets X-Forwarded-Host from the Host it was asked for, never a client's own
    const doc = (await (await fetch(`${lb}/.well-known/oauth-protected-resource/anthropic`, { headers: { host: "acme.proxy.example.com", "x-forwarded-host": "evil.example" } })).json()) as { resource: string; authorization_servers: string[] };
    // (haproxy sets X-Forwarded-Proto itself: http here, https behind its TLS bind)
    expect(doc.resource).toBe("http://acme.proxy.example.com/anthropic");
    expect(doc.authorization_servers).toEqual([tenant.issuer]);
  });

  test("AGENT_RUNNER_PROXY_HOST=127.0.0.1: the replicas listen on loopback only (what haproxy reaches), and the stub answers through haproxy with the tenant's key", async () => {
    const r = replicas[0]!;
    // a worker's line names the address it listens on; no wildcard listener on the replica's port
    const listeners = Bun.spawnSync(["ss", "-Htln", `sport = :${r.port}`], { stdout: "pipe" }).stdout.toString().trim().split("\n");
    expect(listeners.length).toBeGreaterThan(0);
    for (const l of listeners) expect(l).toContain(`127.0.0.1:${r.port}`);
    const response = await ask();
    expect(((await response.json()) as { content: { text: string }[] }).content[0]!.text).toContain("Hello from the local agent-runner tenant");
  });
});
