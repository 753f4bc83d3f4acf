/**
 * The admin key for automation (`--admin-key-file FILE`): read once from a file (never argv or
 * an environment variable, which other processes of the user can read), kept in an object that
 * prints as `[admin key]` wherever it ends up (logs, JSON, util.inspect, template strings).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { GatewayError } from "./errors.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";

/** What the proxy accepts (at least 32 characters); larger than any real key, smaller than a mistake. */
export const MIN_ADMIN_KEY_LENGTH = 32;
const MAX_ADMIN_KEY_FILE_BYTES = 4096;
/** Printable ASCII without spaces: what `openssl rand -hex 32` or `-base64 32` gives. */
const KEY_CHARS = /^[\x21-\x7e]+$/;

export class AdminKey {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The key itself, for the Authorization header only. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return "[admin key]";
  }
  toJSON(): string {
    return "[admin key]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[admin key]";
  }
}

/** Reads the file's bytes; the default opens without blocking on a FIFO and refuses non-files. */
export type KeyFileReader = (path: string) => string;

export function readKeyFileText(path: string): string {
  // O_NONBLOCK: a FIFO planted at the path cannot hang the command; fstat then refuses it.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error("not a regular file");
    if (st.size > MAX_ADMIN_KEY_FILE_BYTES) throw new Error(`larger than ${MAX_ADMIN_KEY_FILE_BYTES} bytes`);
    const buffer = Buffer.alloc(MAX_ADMIN_KEY_FILE_BYTES + 1);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    if (n > MAX_ADMIN_KEY_FILE_BYTES) throw new Error(`larger than ${MAX_ADMIN_KEY_FILE_BYTES} bytes`);
    return buffer.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** Reads and checks the key file once; every problem is a GatewayError `admin_key_file` (exit 5). */
export function readAdminKeyFile(path: string, read: KeyFileReader = readKeyFileText): AdminKey {
  const shown = sanitizeForTerminal(path);
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable by you" : sanitizeForTerminal((e as Error).message);
    throw new GatewayError("admin_key_file", `the admin key file ${shown} ${why}`, "Give --admin-key-file the file that holds the tenant proxy's admin key.", { cause: e });
  }
  const key = text.trim();
  // never quote the content: it may be the key with a typo, or another secret
  if (key === "") throw new GatewayError("admin_key_file", `the admin key file ${shown} is empty`);
  if (!KEY_CHARS.test(key)) throw new GatewayError("admin_key_file", `the admin key file ${shown} must hold one key on one line (printable characters, no spaces)`);
  if (key.length < MIN_ADMIN_KEY_LENGTH) throw new GatewayError("admin_key_file", `the admin key in ${shown} is shorter than ${MIN_ADMIN_KEY_LENGTH} characters, so the proxy would never accept it`, "Generate one with: openssl rand -hex 32");
  return new AdminKey(key);
}
