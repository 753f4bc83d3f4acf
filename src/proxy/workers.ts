/**
 * `--workers N`: several proxy processes on a host (default three per four cores). The supervisor (this module, run by
 * main.ts) starts N workers (`main.ts --workers 1 --reuse-port …`) that all listen on the same
 * port (SO_REUSEPORT: the kernel spreads connections), restarts a worker that dies (backoff, a log
 * line), forwards SIGTERM/SIGINT so each worker drains its streams within the grace, and exits 1
 * when a worker crash-loops. Metrics: each worker serves its own registry on an internal loopback
 * port; the supervisor alone listens on `--metrics-port` and serves their samples merged, each
 * labelled `worker="i"` (sum them with `sum without (worker)`), so one scrape sees every worker.
 * Workers share budgets and limits through `--state`: a SQLite file (one host) or Redis; with no
 * `--state` the supervisor gives them a temporary SQLite file, never one in-memory store each.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MAX_UPSTREAM_CONNECTIONS } from "../shared/fetch-concurrency.ts";
import { PER_WORKER_OPTIONS, PROXY_OPTIONS, type ProxyProcessOptions } from "./options.ts";
import { openState } from "./state/open.ts";
import { eventLine, logEvent } from "./telemetry/log.ts";
import { StateError } from "./state/types.ts";
import { buildConsoleAssets, CONSOLE_ASSETS_DIR_ENV, writeConsoleAssets } from "./console/assets.ts";

/** Exit codes of the supervisor (docs/deploy.md): 2 bad options or a worker refused its configuration; 1 crash loop. */
export const EXIT_USAGE = 2;
export const EXIT_CRASH_LOOP = 1;

/** Set on a worker's environment: its index. main.ts runs the server directly when it is present. */
export const WORKER_ENV = "AGENT_RUNNER_PROXY_WORKER";

export class WorkersError extends Error {
  constructor(
    readonly code: "WORKERS_VALUE" | "STATE_NOT_SHARED",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * `auto`, the default: three workers per four cores, at least one (1 on 2 cores, 3 on 4, 6 on 8).
 * A worker is more than one core's work at full load: its JavaScript thread, plus Bun's HTTP
 * client thread and the SQLite writer thread, about a third of a core more (measured, by thread,
 * docs/benchmarks.md). One worker per core made two workers fight over a 2-core host, with the
 * state in a shared file instead of memory, and lost a third of the throughput.
 */
export function defaultWorkerCount(cores: number): number {
  return Math.max(1, Math.floor((cores * 3) / 4));
}

/** `--workers N` / AGENT_RUNNER_PROXY_WORKERS: a whole number 1-256, or `auto` ({@link defaultWorkerCount}). */
export function parseWorkerCount(text: string | undefined, cores: number): number {
  if (text === undefined || text === "auto") return defaultWorkerCount(cores);
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new WorkersError("WORKERS_VALUE", `--workers must be a whole number from 1 to 256 or "auto", got ${JSON.stringify(text)}`);
  return n;
}

/** Takes `--workers N` / `--workers=N` out of the arguments (the server's own parser does not know it). */
export function extractWorkersFlag(args: string[]): { value: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--workers") {
      value = args[++i] ?? "";
    } else if (a.startsWith("--workers=")) {
      value = a.slice("--workers=".length);
    } else {
      rest.push(a);
    }
  }
  return { value, rest };
}

export interface WorkerPlan {
  /** The server's arguments without the ones the supervisor sets per worker. */
  args: string[];
  host: string;
  /** 0: the supervisor picks a free port once, so every worker (and restart) gets the same one. */
  port: number;
  metrics: { host: string; port: number } | null;
  /** The `--state` URL to give workers, or null to make a temporary SQLite file. */
  state: string | null;
  graceMs: number;
  /** A tenant has the admin console: its bundle is built once here and handed to the workers. */
  console: boolean;
}

/** What the supervisor needs of the options (read once, options.ts), and the workers' arguments without the ones it sets per worker. */
export function planWorkers(options: ProxyProcessOptions, args: readonly string[]): WorkerPlan {
  if (options.state === "sqlite::memory:") {
    throw new WorkersError("STATE_NOT_SHARED", "--state sqlite::memory: would give each worker its own budgets and limits; name a file (sqlite:/var/lib/agent-runner/state.db) or Redis, or run --workers 1");
  }
  const tenants = options.config.single ? [options.config.single] : [...options.config.tenants.values()];
  return { args: workerArgs(args), host: options.host, port: options.port, metrics: options.metrics, state: options.state ?? null, graceMs: options.config.shutdownGraceMs, console: tenants.some((t) => t.console) };
}

/** The arguments without the flags the supervisor sets per worker (PER_WORKER_OPTIONS), in either spelling. */
export function workerArgs(args: readonly string[]): string[] {
  const { tokens } = parseArgs({ args: [...args], options: PROXY_OPTIONS, strict: false, tokens: true, allowPositionals: true });
  const drop = new Set<number>();
  for (const t of tokens ?? []) {
    if (t.kind !== "option" || !(PER_WORKER_OPTIONS as readonly string[]).includes(t.name)) continue;
    drop.add(t.index);
    if (t.inlineValue === false) drop.add(t.index + 1);
  }
  return args.filter((_, i) => !drop.has(i));
}

/**
 * Merges the workers' Prometheus text expositions: each family once (HELP, TYPE), then every
 * worker's samples with a `worker` label added, so the result is still valid exposition format.
 */
export function mergeExpositions(texts: { worker: number; text: string }[]): string {
  const families = new Map<string, { head: string[]; samples: string[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { head: [], samples: [] }));
    return f;
  };
  for (const { worker, text } of texts) {
    let current: { head: string[]; samples: string[] } | undefined;
    const seenHead = new Set<string>();
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        current = family(meta[2] as string);
        const key = `${meta[1]} ${meta[2]}`;
        if (current.head.length < 2 && !seenHead.has(key) && !current.head.some((h) => h.startsWith(`# ${meta[1]} `))) current.head.push(line);
        seenHead.add(key);
        continue;
      }
      if (line.startsWith("#")) continue;
      const target = current ?? family(line.split(/[{ ]/, 1)[0] as string);
      target.samples.push(withLabel(line, "worker", String(worker)));
    }
  }
  const out: string[] = [];
  for (const f of families.values()) out.push(...f.head, ...f.samples);
  return out.join("\n") + "\n";
}

function withLabel(sample: string, name: string, value: string): string {
  const brace = sample.indexOf("{");
  const space = sample.indexOf(" ");
  if (brace !== -1 && (space === -1 || brace < space)) {
    const rest = sample.slice(brace + 1);
    return `${sample.slice(0, brace + 1)}${name}="${value}"${rest.startsWith("}") ? "" : ","}${rest}`;
  }
  return `${sample.slice(0, space)}{${name}="${value}"}${sample.slice(space)}`;
}

/** When to restart a worker that exited: doubling backoff; a worker that keeps dying young is a crash loop. */
export class RestartPolicy {
  private readonly quickFailures = new Map<number, number>();
  constructor(
    private readonly o = { healthyAfterMs: 10_000, firstDelayMs: 250, maxDelayMs: 10_000, maxQuickFailures: 5 },
  ) {}

  onExit(worker: number, uptimeMs: number): { restart: true; delayMs: number } | { restart: false } {
    const failures = uptimeMs >= this.o.healthyAfterMs ? 1 : (this.quickFailures.get(worker) ?? 0) + 1;
    this.quickFailures.set(worker, failures);
    if (failures > this.o.maxQuickFailures) return { restart: false };
    return { restart: true, delayMs: Math.min(this.o.maxDelayMs, this.o.firstDelayMs * 2 ** (failures - 1)) };
  }
}

/** A free TCP port on `host`, found by binding port 0 (released at once; the worker binds it next). */
function freePort(host: string): number {
  const listener = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

interface Worker {
  index: number;
  process: Bun.Subprocess<"pipe", "inherit", "pipe">;
  started: number;
  ready: boolean;
  metricsPort: number;
}

export interface SupervisorDeps {
  /** The entry the workers run (main.ts). */
  entry: string;
  env: NodeJS.ProcessEnv;
}

/** Runs until SIGTERM/SIGINT (exit 0 once the workers have drained) or a crash loop (exit 1). */
export async function runSupervisor(count: number, plan: WorkerPlan, deps: SupervisorDeps): Promise<never> {
  const port = plan.port === 0 ? freePort(plan.host) : plan.port;
  let announced = false;
  // Start-up lines (the workers', this warning) wait until the supervisor's "listening on" line is out.
  const held: string[] = [];
  const emit = (line: string) => (announced ? process.stderr.write(line + "\n") : held.length < 500 && held.push(line));
  let stateUrl = plan.state;
  let tempDir: string | undefined;
  if (stateUrl === null) {
    tempDir = mkdtempSync(join(tmpdir(), "agent-runner-proxy-"));
    stateUrl = `sqlite:${join(tempDir, "state.db")}`;
    emit(eventLine("warn", `no --state: the ${count} workers share a temporary SQLite file, removed at exit; set --state sqlite:/var/lib/agent-runner/state.db (or Redis) to keep usage across restarts`));
  }
  if (stateUrl.startsWith("sqlite:")) await prepareSqlite(stateUrl);
  const consoleDir = plan.console ? await prepareConsole() : undefined;
  const metricsPorts = Array.from({ length: count }, () => (plan.metrics ? freePort("127.0.0.1") : 0));
  const workers: (Worker | undefined)[] = new Array(count);
  const policy = new RestartPolicy();
  let restarts = 0;
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  function spawnWorker(index: number): void {
    const args = [
      deps.entry, ...plan.args, "--workers", "1", "--reuse-port", "--host", plan.host, "--port", String(port), "--state", stateUrl as string,
      ...(plan.metrics ? ["--metrics-port", String(metricsPorts[index]), "--metrics-host", "127.0.0.1"] : ["--metrics-port", "off"]),
    ];
    const child = Bun.spawn([process.execPath, ...args], {
      // stdin is how a worker learns the supervisor is gone (EOF), even after SIGKILL
      stdin: "pipe",
      stdout: "inherit",
      stderr: "pipe",
      env: { ...deps.env, [WORKER_ENV]: String(index), BUN_CONFIG_MAX_HTTP_REQUESTS: deps.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? MAX_UPSTREAM_CONNECTIONS, ...(consoleDir ? { [CONSOLE_ASSETS_DIR_ENV]: consoleDir } : {}) },
      ipc(message) {
        if ((message as { type?: unknown }).type === "ready" && workers[index]?.process === child) {
          (workers[index] as Worker).ready = true;
          maybeAnnounce();
        }
      },
      onExit(_p, code, signal) {
        onWorkerExit(index, child, code, signal);
      },
    });
    workers[index] = { index, process: child, started: Date.now(), ready: false, metricsPort: metricsPorts[index] as number };
    void relayStderr(index, child.stderr);
  }

  async function relayStderr(index: number, stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) !== -1) {
        emit(tagLine(buffered.slice(0, nl), index));
        buffered = buffered.slice(nl + 1);
      }
    }
    if (buffered) emit(tagLine(buffered, index));
  }

  function flushHeld(): void {
    announced = true;
    for (const line of held.splice(0)) process.stderr.write(line + "\n");
  }

  function maybeAnnounce(): void {
    if (announced || !workers.every((w) => w?.ready)) return;
    const shownHost = plan.host === "0.0.0.0" ? "127.0.0.1" : plan.host;
    logEvent("info", `listening on http://${shownHost}:${port}`, { metrics: metricsServer ? `http://${metricsServer.hostname}:${metricsServer.port}` : "off", workers: count, pid: process.pid });
    flushHeld();
  }

  function onWorkerExit(index: number, child: Bun.Subprocess, code: number | null, signal: number | NodeJS.Signals | null): void {
    const w = workers[index];
    if (!w || w.process !== child) return;
    workers[index] = undefined;
    if (stopping) {
      if (workers.every((x) => x === undefined)) finish(0);
      return;
    }
    const how = code !== null ? `exit code ${code}` : `signal ${signal}`;
    if (code === EXIT_USAGE && !w.ready) {
      // the configuration was refused: every worker would refuse it the same way
      flushHeld();
      logEvent("error", `worker ${index} refused the configuration (${how}); stopping`);
      void stopAll(EXIT_USAGE);
      return;
    }
    const decision = policy.onExit(index, Date.now() - w.started);
    if (!decision.restart) {
      flushHeld();
      logEvent("error", `worker ${index} keeps exiting (${how}) within seconds of starting: crash loop, stopping`, { worker: index });
      void stopAll(EXIT_CRASH_LOOP);
      return;
    }
    restarts++;
    logEvent("warn", `worker ${index} (pid ${child.pid}) exited (${how}); restarting in ${decision.delayMs} ms`, { worker: index, restarts });
    setTimeout(() => {
      if (!stopping) spawnWorker(index);
    }, decision.delayMs);
  }

  let exitCode = 0;
  async function stopAll(code: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    const live = workers.filter((w): w is Worker => w !== undefined);
    if (live.length === 0) finish(code);
    for (const w of live) w.process.kill(signal);
    // never wait forever: a worker past its grace (plus a margin) is killed
    setTimeout(() => {
      for (const w of workers) w?.process.kill("SIGKILL");
    }, plan.graceMs + 5000).unref();
  }

  async function scrape(): Promise<Response> {
    const texts = await Promise.all(
      workers.map(async (w, i) => {
        if (!w?.ready) return { worker: i, text: "" };
        try {
          const r = await fetch(`http://127.0.0.1:${w.metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
          return { worker: i, text: r.ok ? await r.text() : "" };
        } catch {
          return { worker: i, text: "" };
        }
      }),
    );
    const own = [
      "# HELP proxy_workers Worker processes configured (--workers)",
      "# TYPE proxy_workers gauge",
      `proxy_workers ${count}`,
      "# HELP proxy_worker_restarts_total Workers restarted after an unexpected exit",
      "# TYPE proxy_worker_restarts_total counter",
      `proxy_worker_restarts_total ${restarts}`,
      "# HELP proxy_worker_scrape_up 1 if this worker's metrics were read for this scrape",
      "# TYPE proxy_worker_scrape_up gauge",
      ...texts.map((t) => `proxy_worker_scrape_up{worker="${t.worker}"} ${t.text ? 1 : 0}`),
    ].join("\n");
    return new Response(mergeExpositions(texts) + own + "\n", { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
  }

  let metricsServer: ReturnType<typeof Bun.serve> | undefined;
  try {
    metricsServer = plan.metrics
      ? Bun.serve({
          port: plan.metrics.port,
          hostname: plan.metrics.host,
          fetch: (request) => (new URL(request.url).pathname === "/metrics" && (request.method === "GET" || request.method === "HEAD") ? scrape() : new Response("not found\n", { status: 404 })),
        })
      : undefined;
  } catch (e) {
    logEvent("error", `cannot listen for metrics on ${plan.metrics?.host}:${plan.metrics?.port}: ${(e as Error).message}; choose a free port with --metrics-port (AGENT_RUNNER_PROXY_METRICS_PORT): replicas on one host each need their own`);
    process.exit(EXIT_USAGE);
  }

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      logEvent("info", `${signal}: stopping ${count} workers, streams in flight may finish within ${plan.graceMs / 1000} s`);
      void stopAll(0, signal);
    });
  }
  // SIGHUP: every worker runs its reloaders (reload.ts: keys, credentials, policy files); Bun would exit on it unhandled
  process.on("SIGHUP", () => {
    logEvent("info", `SIGHUP: passed to ${count} workers`);
    for (const w of workers) if (w && !stopping) w.process.kill("SIGHUP");
  });
  for (let i = 0; i < count; i++) spawnWorker(i);
  const startTimer = setTimeout(() => {
    if (announced || stopping) return;
    flushHeld();
    logEvent("error", `not every worker was listening within 60 s; stopping`);
    void stopAll(EXIT_CRASH_LOOP);
  }, 60_000);
  startTimer.unref();

  const code = await finished;
  clearTimeout(startTimer);
  flushHeld();
  await metricsServer?.stop(true);
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  if (consoleDir) rmSync(consoleDir, { recursive: true, force: true });
  process.exit(exitCode || code);
}

/** The admin console's bundle, built once for every worker (and restart) into a temporary directory; a failed build fails the start. */
async function prepareConsole(): Promise<string> {
  try {
    const dir = mkdtempSync(join(tmpdir(), "agent-runner-console-"));
    writeConsoleAssets(await buildConsoleAssets(), dir);
    return dir;
  } catch (e) {
    logEvent("error", `the admin console could not be built: ${(e as Error).message}`);
    process.exit(EXIT_USAGE);
  }
}

/**
 * Creates the SQLite file (schema, WAL mode) once before the workers start: N processes creating
 * it at the same moment fail with "database is locked" (switching to WAL does not wait on the
 * busy timeout, measured), while opening a file already in WAL mode concurrently is safe.
 */
async function prepareSqlite(url: string): Promise<void> {
  try {
    await openState(url).close();
  } catch (e) {
    if (!(e instanceof StateError)) throw e;
    logEvent("error", e.message);
    process.exit(EXIT_USAGE);
  }
}

/** A worker's JSON log line gets its index; other text passes unchanged. */
function tagLine(line: string, worker: number): string {
  if (!line.startsWith("{")) return line;
  try {
    const parsed = JSON.parse(line) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return JSON.stringify({ ...parsed, worker });
  } catch {
    // not JSON after all
  }
  return line;
}
