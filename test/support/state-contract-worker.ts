/**
 * A separate OS process for the contract tests: opens the store a URL names and, at an agreed
 * moment, fires concurrent reservations or rate-limit admissions; prints what was accepted.
 * argv: url, op (reserve|admit), json {person, count, startAt, estimate?, now?}
 */
import { openState } from "../../src/proxy/state/open.ts";
import type { Estimate } from "../../src/proxy/model/budgets.ts";
import type { Person } from "../../src/proxy/model/person.ts";

const [url, op, raw] = process.argv.slice(2) as [string, string, string];
const job = JSON.parse(raw) as { person: Person; count: number; startAt: number; estimate?: Estimate; now?: number };
const state = openState(url);
await state.ping();
await Bun.sleep(Math.max(0, job.startAt - Date.now()));
const results = await Promise.all(
  Array.from({ length: job.count }, async () => {
    if (op === "reserve") return (await state.reserve(job.person, job.estimate as Estimate)).ok;
    return (await state.admit(job.person, 0, job.now !== undefined ? { now: job.now } : {})).allowed;
  }),
);
console.log(JSON.stringify({ accepted: results.filter(Boolean).length }));
await state.close();
