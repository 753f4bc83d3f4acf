/**
 * `npm run release`: builds every release artefact into dist/release/ (see release/main.ts).
 * Nothing runs on import; the steps live in scripts/release/, one module per artefact.
 */
import { join } from "node:path";
import { loadContext } from "./release/context.ts";
import { release } from "./release/main.ts";

if (import.meta.main) {
  release(loadContext(join(import.meta.dir, "..")), process.env, (line) => console.error(line));
}
