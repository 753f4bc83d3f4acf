/**
 * Bun's fetch opens at most 256 connections at once unless BUN_CONFIG_MAX_HTTP_REQUESTS is set
 * when the process starts (setting it later has no effect, measured). A proxy holding long
 * streams needs far more, so the server entry points re-run themselves with it set.
 * Returns true when this process should continue (the variable is set).
 */
import { spawn } from "node:child_process";

export const MAX_UPSTREAM_CONNECTIONS = "65535";

export function ensureFetchConcurrency(): boolean {
  if (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) return true;
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: "inherit",
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_UPSTREAM_CONNECTIONS },
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
  return false;
}
