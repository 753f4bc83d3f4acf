/**
 * `bun src/proxy/main.ts [--workers N] …`: runs the tenant proxy (options in options.ts, read and
 * checked once here, before anything listens; a bad one exits 2 with the flag named).
 * - `--workers N` (AGENT_RUNNER_PROXY_WORKERS; default three per four cores, at least one: workers.ts): N > 1 runs the
 *   supervisor (workers.ts), which starts N worker processes sharing the port.
 * - `--workers 1`: no supervisor. Bun's fetch may hold enough upstream connections only when
 *   BUN_CONFIG_MAX_HTTP_REQUESTS is set at start (shared/fetch-concurrency.ts): without it, this
 *   entry re-runs itself with it set, as a worker, so that the server drains and exits when this
 *   process goes away, even by SIGKILL (a plain re-run would be orphaned, still serving).
 * - A worker (AGENT_RUNNER_PROXY_WORKER set) runs the server, tells the supervisor once it
 *   listens, and drains and exits when the supervisor goes away (its stdin closes).
 */
import { availableParallelism } from "node:os";
import { spawn } from "node:child_process";
import { MAX_UPSTREAM_CONNECTIONS } from "../shared/fetch-concurrency.ts";
import { ProxyOptionsError, type ProxyProcessOptions, readProxyOptions } from "./options.ts";
import { EXIT_USAGE, extractWorkersFlag, parseWorkerCount, planWorkers, runSupervisor, WORKER_ENV, WorkersError } from "./workers.ts";

function exitUsage(message: string): never {
  console.error(`agent-runner-proxy: ${message}`);
  process.exit(EXIT_USAGE);
}

const { value, rest } = extractWorkersFlag(process.argv.slice(2));
let count: number;
let options: ProxyProcessOptions;
try {
  count = parseWorkerCount(value ?? process.env.AGENT_RUNNER_PROXY_WORKERS, availableParallelism());
  options = readProxyOptions(rest, process.env);
} catch (e) {
  if (!(e instanceof WorkersError || e instanceof ProxyOptionsError)) throw e;
  exitUsage(e.message);
}

if (process.env[WORKER_ENV] !== undefined) {
  process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
  process.stdin.resume();
  await serveHere(options);
  process.send?.({ type: "ready" });
} else {
  if (count > 1) {
    try {
      await runSupervisor(count, planWorkers(options, rest), { entry: import.meta.path, env: process.env });
    } catch (e) {
      if (!(e instanceof WorkersError)) throw e;
      exitUsage(e.message);
    }
  }
  if (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) await serveHere(options);
  else reRunWithFetchConcurrency();
}

/** The server, loaded only in the process that serves (not in the supervisor). */
async function serveHere(options: ProxyProcessOptions): Promise<void> {
  const { serve, ServeError } = await import("./serve.ts");
  try {
    await serve(options);
  } catch (e) {
    if (!(e instanceof ServeError)) throw e;
    exitUsage(e.message);
  }
}

function reRunWithFetchConcurrency(): void {
  const child = spawn(process.execPath, [import.meta.path, ...rest], {
    stdio: ["pipe", "inherit", "inherit"],
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_UPSTREAM_CONNECTIONS, [WORKER_ENV]: "0" },
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
}
