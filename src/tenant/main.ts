/**
 * `npm run tenant`: starts the local tenant (see serve.ts). This entry only makes sure Bun's
 * fetch may hold enough upstream connections (see shared/fetch-concurrency.ts) before loading it.
 */
import { ensureFetchConcurrency } from "../shared/fetch-concurrency.ts";

if (ensureFetchConcurrency()) await import("./serve.ts");
