import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { ExitCode } from "../errors.ts";
import { readAdminKeyFile } from "./admin-key.ts";
import { GatewayError } from "./errors.ts";

const dir = mkdtempSync(join(tmpdir(), "ara-gw-key-"));
const KEY = "0123456789abcdef0123456789abcdef0123";
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};
const refusal = (path: string) => {
  try {
    readAdminKeyFile(path);
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe("admin_key_file");
    expect((e as GatewayError).exitCode).toBe(ExitCode.config);
    return e as GatewayError;
  }
  throw new Error("accepted");
};

test("a key file with a trailing newline: read once, printed nowhere", () => {
  const key = readAdminKeyFile(file("ok", `${KEY}\n`));
  expect(key.reveal()).toBe(KEY);
  expect(`${key} ${JSON.stringify({ key })} ${inspect(key)}`).not.toContain(KEY);
});

test("missing, empty, too short, two words: refused, the content never quoted", () => {
  expect(refusal(join(dir, "nope")).message).toContain("does not exist");
  expect(refusal(file("empty", "\n")).message).toContain("is empty");
  const short = refusal(file("short", "abc123"));
  expect(short.message).toContain("shorter than 32");
  expect(short.message).not.toContain("abc123");
  expect(refusal(file("words", `${KEY} ${KEY}`)).message).not.toContain(KEY);
});

test("a directory or a FIFO is refused at once (no hang on the FIFO)", () => {
  const d = join(dir, "a-dir");
  mkdirSync(d);
  refusal(d);
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const started = performance.now();
  expect(refusal(fifo).message).toContain("not a regular file");
  expect(performance.now() - started).toBeLessThan(1000);
});
