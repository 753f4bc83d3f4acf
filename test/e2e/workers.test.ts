/**
 * `--workers N`, with real processes: a supervisor and its workers on one port (SO_REUSEPORT),
 * the forge issuer's JWKS and the stub upstream. Which worker served a request is read from the
 * supervisor's merged metrics (`worker` label); worker pids are the supervisor's children.
 */
import { describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { messageBody, post, UPSTREAM_KEY, useGateway, within } from "../support/gateway.ts";
import { BUN, ROOT } from "../support/tenant.ts";
import { randomPort } from "../support/ports.ts";

const gateway = useGateway();

/** SIGKILL, unless the process is gone already (the supervisor may be stopping its workers itself: ESRCH). */
function killIfAlive(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (e) {
    if ((e as { code?: string }).code !== "ESRCH") throw e;
  }
}

interface Supervisor {
  url: string;
  metrics: string;
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

async function startSupervisor(workers: number, extra: string[] = []): Promise<Supervisor> {
  const metricsPort = randomPort(); // below the ephemeral range
  const child = spawn(BUN, [
    join(ROOT, "src/proxy/main.ts"), "--workers", String(workers), "--issuer", gateway.forge.issuer, "--client-id", "agent-runner-cli", "--upstream", gateway.stub.url,
    "--upstream-key-file", gateway.files.upstreamKeyFile, "--host", "127.0.0.1", "--port", "0", "--metrics-port", String(metricsPort), "--shutdown-grace", "10",
    "--state", `sqlite:${join(gateway.files.dir, `state-${metricsPort}.db`)}`, ...extra,
  ], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "1" } });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr += line + "\n";
      if (line.includes('"listening on') && !line.includes('"worker"')) resolve(JSON.parse(line));
    });
    void exited.then((code) => reject(new Error(`supervisor exited with ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error(`supervisor did not start: ${stderr}`)), 20_000);
  });
  const url = String(first.message).replace("listening on ", "");
  for (let i = 0; i < 100 && (await fetch(`${url}/readyz`)).status !== 200; i++) await Bun.sleep(50);
  return { url, metrics: String(first.metrics), child, stderr: () => stderr, exited };
}

function workerPids(supervisor: Supervisor): number[] {
  const out = Bun.spawnSync(["pgrep", "-P", String(supervisor.child.pid)]).stdout.toString();
  return out.split("\n").filter(Boolean).map(Number).sort();
}

/** proxy_requests_total summed per worker, from the supervisor's one metrics endpoint. */
async function requestsByWorker(supervisor: Supervisor): Promise<Map<string, number>> {
  const text = await (await fetch(`${supervisor.metrics}/metrics`)).text();
  const by = new Map<string, number>();
  for (const m of text.matchAll(/^proxy_requests_total\{worker="(\d+)"[^}]*\} (\d+)$/gm)) by.set(m[1] as string, (by.get(m[1] as string) ?? 0) + Number(m[2]));
  return by;
}

/** A request on a new connection each time, so the kernel picks a worker each time. */
const fresh = (url: string, init: RequestInit = {}) => fetch(url, { ...init, keepalive: false } as RequestInit);

describe("--workers", () => {
  test("N workers share one port: requests on new connections land on several worker processes; one metrics endpoint shows them all", async () => {
    const s = await startSupervisor(2);
    try {
      expect(workerPids(s)).toHaveLength(2);
      const token = await gateway.forge.sign({ sub: "sub-w", username: "w" });
      for (let i = 0; i < 40; i++) expect((await post(s.url, token, messageBody(), { keepalive: false } as RequestInit)).status).toBe(200);
      const by = await requestsByWorker(s);
      expect([...by.keys()].sort()).toEqual(["0", "1"]);
      expect([...by.values()].reduce((a, b) => a + b, 0)).toBe(40);
      for (const n of by.values()) expect(n).toBeGreaterThan(0);
      const text = await (await fetch(`${s.metrics}/metrics`)).text();
      expect(text).toContain("proxy_workers 2");
      // one HELP line per family even though two registries were merged
      expect(text.match(/^# HELP proxy_requests_total /gm)).toHaveLength(1);
      expect(s.stderr()).toContain('"worker":1');
    } finally {
      s.child.kill("SIGTERM");
      expect(await s.exited).toBe(0);
    }
  }, 40_000);

  test("a worker killed with SIGKILL is replaced (log line) and the port keeps serving meanwhile", async () => {
    const s = await startSupervisor(2);
    try {
      const [victim, survivor] = workerPids(s) as [number, number];
      let served = 0;
      let failed = 0;
      let running = true;
      const load = (async () => {
        while (running) {
          try {
            (await fresh(`${s.url}/healthz`)).ok ? served++ : failed++;
          } catch {
            failed++;
          }
        }
      })();
      await Bun.sleep(200);
      process.kill(victim, "SIGKILL");
      await within(5000, async () => workerPids(s).length === 2 && !workerPids(s).includes(victim));
      await within(5000, async () => /"worker \d \(pid \d+\) exited \(signal SIGKILL\); restarting in \d+ ms"/.test(s.stderr()));
      const replacement = workerPids(s).find((p) => p !== survivor) as number;
      await Bun.sleep(300);
      running = false;
      await load;
      expect(served).toBeGreaterThan(50);
      // connections already queued on the killed worker's socket may be reset; nothing after
      expect(failed).toBeLessThanOrEqual(2);
      // the replacement serves: its requests appear once it is up (the restart line comes before
      // it listens, so until then every new connection lands on the survivor)
      expect(replacement).not.toBe(victim);
      const token = await gateway.forge.sign({ sub: "sub-r", username: "r" });
      await within(5000, async () => {
        for (let i = 0; i < 10; i++) expect((await post(s.url, token, messageBody(), { keepalive: false } as RequestInit)).status).toBe(200);
        return [...(await requestsByWorker(s)).keys()].sort().join() === "0,1";
      });
      expect(await (await fetch(`${s.metrics}/metrics`)).text()).toContain("proxy_worker_restarts_total 1");
    } finally {
      s.child.kill("SIGTERM");
      await s.exited;
    }
  }, 40_000);

  test("SIGTERM: the port closes to new connections, a stream in flight finishes, the supervisor exits 0", async () => {
    const s = await startSupervisor(2);
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "slow", eventDelayMs: 150, events: 16 }) });
    try {
      const token = await gateway.forge.sign({ sub: "sub-s", username: "s" });
      const response = await post(s.url, token, messageBody({ stream: true }));
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      let text = new TextDecoder().decode((await reader.read()).value);
      const pids = workerPids(s);
      s.child.kill("SIGTERM");
      await Bun.sleep(300);
      await expect(fresh(`${s.url}/healthz`)).rejects.toThrow();
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
      expect(text).toContain("event: message_stop");
      expect(await s.exited).toBe(0);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal" }) });
      s.child.kill("SIGKILL");
    }
  }, 40_000);

  test("SIGKILL of the supervisor: its workers notice (stdin closes), drain and exit; no orphan keeps the port", async () => {
    const s = await startSupervisor(2);
    const pids = workerPids(s);
    s.child.kill("SIGKILL");
    await within(5000, async () => pids.every((pid) => { try { process.kill(pid, 0); return false; } catch { return true; } }));
    await expect(fresh(`${s.url}/healthz`)).rejects.toThrow();
  }, 30_000);

  test("--workers 1 without BUN_CONFIG_MAX_HTTP_REQUESTS: the server re-run by the entry drains and exits when the entry is SIGKILLed", async () => {
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.BUN_CONFIG_MAX_HTTP_REQUESTS;
    const child = spawn(BUN, [join(ROOT, "src/proxy/main.ts"), "--workers", "1", "--issuer", gateway.forge.issuer, "--client-id", "agent-runner-cli", "--upstream", gateway.stub.url, "--upstream-key-file", gateway.files.upstreamKeyFile, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "off"], { stdio: ["ignore", "ignore", "pipe"], env });
    const line = await new Promise<string>((resolve) => createInterface({ input: child.stderr! }).on("line", (l) => l.includes("listening on") && resolve(l)));
    const url = String(JSON.parse(line).message).replace("listening on ", "");
    const [server] = Bun.spawnSync(["pgrep", "-P", String(child.pid)]).stdout.toString().split("\n").filter(Boolean).map(Number);
    expect(server).toBeGreaterThan(0);
    expect((await fresh(`${url}/healthz`)).status).toBe(200);
    child.kill("SIGKILL");
    await within(5000, async () => { try { process.kill(server!, 0); return false; } catch { return true; } });
    await expect(fresh(`${url}/healthz`)).rejects.toThrow();
  }, 30_000);

  test("a worker that keeps dying young is a crash loop: the supervisor stops and exits 1; a refused configuration exits 2", async () => {
    const s = await startSupervisor(2);
    // every worker killed as soon as it is back: each keeps dying within seconds of starting
    for (let round = 0; round < 10 && s.child.exitCode === null; round++) {
      for (const pid of workerPids(s)) killIfAlive(pid);
      await within(15_000, async () => s.child.exitCode !== null || workerPids(s).length === 2);
    }
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toContain("crash loop, stopping");

    const refused = Bun.spawnSync([BUN, join(ROOT, "src/proxy/main.ts"), "--workers", "2", "--issuer", gateway.forge.issuer, "--client-id", "c", "--upstream-key-env", "ARA_UNSET_KEY_VARIABLE", "--port", "0", "--metrics-port", "off"], { stderr: "pipe", env: { ...process.env, ARA_UNSET_KEY_VARIABLE: "" } });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr.toString()).toContain("ARA_UNSET_KEY_VARIABLE");
    const bad = Bun.spawnSync([BUN, join(ROOT, "src/proxy/main.ts"), "--workers", "lots"], { stderr: "pipe" });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain("--workers must be a whole number from 1 to 256");
    expect(readFileSync(gateway.files.upstreamKeyFile, "utf8")).toBe(UPSTREAM_KEY);
  }, 60_000);
});
