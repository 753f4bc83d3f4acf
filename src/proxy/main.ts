/**
 * `bun src/proxy/main.ts`: runs the tenant proxy (options in serve.ts). This entry only makes
 * sure Bun's fetch may hold enough upstream connections (shared/fetch-concurrency.ts) first.
 */
import { ensureFetchConcurrency } from "../shared/fetch-concurrency.ts";

if (ensureFetchConcurrency()) await import("./serve.ts");
