/**
 * The gateway's request ids (`req_proxy_` + 32 hex digits): the ledger's key, and the
 * `request-id` of answers the gateway gives itself. The first 12 digits are the time in ms, the
 * other 20 are random (80 bits: no two ids of one millisecond collide in practice, even across
 * replicas, and a collision would make the ledger drop a record as a retry).
 * Time first, because the ledger's primary key is (tenant, request_id): ids that ascend are
 * appended at the end of that B-tree, where random ids each landed on a page of their own, so
 * every insert touched (and in a file, wrote to the WAL) another page. Measured in SQLite with
 * 200,000 records already in a file: 37 µs per record with random ids, 9 µs with these.
 */
import { randomBytes } from "node:crypto";

const RANDOM_DIGITS = 20;
const POOLED = 256;

/** Random hex drawn 256 ids at a time: one system call and one conversion instead of one per request. */
let pool = "";
let offset = 0;
/** The time part, formatted once per millisecond. */
let lastMs = -1;
let timePart = "";

export function newRequestId(now = Date.now()): string {
  if (offset + RANDOM_DIGITS > pool.length) [pool, offset] = [randomBytes((RANDOM_DIGITS / 2) * POOLED).toString("hex"), 0];
  if (now !== lastMs) [lastMs, timePart] = [now, `req_proxy_${now.toString(16).padStart(12, "0")}`];
  offset += RANDOM_DIGITS;
  return timePart + pool.slice(offset - RANDOM_DIGITS, offset);
}
