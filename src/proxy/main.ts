/**
 * `bun src/proxy/main.ts [--workers N] …`: runs the tenant proxy (options in serve.ts).
 * - `--workers N` (AGENT_RUNNER_PROXY_WORKERS; default the number of cores): N > 1 runs the
 *   supervisor (workers.ts), which starts N worker processes sharing the port.
 * - `--workers 1`: no supervisor; this entry only makes sure Bun's fetch may hold enough upstream
 *   connections (shared/fetch-concurrency.ts) before loading the server.
 * - A worker (AGENT_RUNNER_PROXY_WORKER set) runs the server, tells the supervisor once it
 *   listens, and drains and exits when the supervisor goes away (its stdin closes).
 */
import { availableParallelism } from "node:os";
import { ensureFetchConcurrency } from "../shared/fetch-concurrency.ts";
import { EXIT_USAGE, extractWorkersFlag, parseWorkerCount, planWorkers, runSupervisor, WORKER_ENV, WorkersError } from "./workers.ts";

const { value, rest } = extractWorkersFlag(process.argv.slice(2));
// the server's own option parser reads process.argv and does not know --workers
process.argv.splice(2, process.argv.length - 2, ...rest);

if (process.env[WORKER_ENV] !== undefined) {
  process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
  process.stdin.resume();
  await import("./serve.ts");
  process.send?.({ type: "ready" });
} else {
  let count: number;
  try {
    count = parseWorkerCount(value ?? process.env.AGENT_RUNNER_PROXY_WORKERS, availableParallelism());
    if (count > 1) {
      const plan = planWorkers(rest, process.env);
      await runSupervisor(count, plan, { entry: import.meta.path, env: process.env });
    }
  } catch (e) {
    if (!(e instanceof WorkersError)) throw e;
    console.error(`agent-runner-proxy: ${e.message}`);
    process.exit(EXIT_USAGE);
  }
  // the re-run below (fetch concurrency) must not start a supervisor: it no longer sees --workers
  process.env.AGENT_RUNNER_PROXY_WORKERS = "1";
  if (ensureFetchConcurrency()) await import("./serve.ts");
}
