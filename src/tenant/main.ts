/**
 * `npm run tenant`: starts the local tenant (see serve.ts). This entry only makes sure Bun's
 * fetch may hold enough upstream connections (see shared/fetch-concurrency.ts) before loading it,
 * and drops oidc-provider's start-up warning about running on Bun (it runs here on purpose:
 * the whole tenant, its tests included, is exercised under Bun).
 */
import { ensureFetchConcurrency } from "../shared/fetch-concurrency.ts";

if (ensureFetchConcurrency()) {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes("oidc-provider WARNING: Unsupported runtime")) warn(...args);
  };
  await import("./serve.ts");
}
