/**
 * The tenant's policy in force, and its reloads (issue 18 §1). A source is a file (the tenant's
 * `policy` path, `--policy FILE`, `AGENT_RUNNER_PROXY_POLICY`) or an inline object (the tenant's
 * `policy` object in the config file, fixed until restart).
 *
 * A file is watched (fs.watch on its directory, which also sees an atomic rename and a
 * Kubernetes ConfigMap's `..data` swap) and polled (its stat signature, every `pollMs`: network
 * file systems send no events), and reloaded on demand (SIGHUP, wired by the process). A reload
 * reads the whole file, validates it, and only then replaces the policy in force; requests in
 * flight keep the CompiledPolicy they started with. An invalid, partial, unreadable or missing
 * file never replaces a good one: the policy in force stays, one line names the file, the line,
 * the member and the problem, and the counter moves (`result`: applied, unchanged, invalid,
 * missing). A file that changes while being read is read again when it settles. The first load
 * must succeed (the gateway does not start without its policy): `open` throws the PolicyError.
 */
import { type FSWatcher, watch } from "node:fs";
import { open as openFile, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { createHash } from "node:crypto";
import { PolicyError } from "../../shared/policy/errors.ts";
import { MAX_POLICY_BYTES, parsePolicyText, validatePolicy } from "../../shared/policy/parse.ts";
import { compilePolicy, type CompiledPolicy } from "../../shared/policy/resolve.ts";
import { shortHash } from "../../shared/policy/canonical.ts";

/** The environment variable naming the policy file of the single-tenant gateway. */
export const POLICY_ENV = "AGENT_RUNNER_PROXY_POLICY";

export type ReloadResult = "applied" | "unchanged" | "invalid" | "missing";

/** One structured log line (the gateway passes its `logEvent`). */
export type PolicyLog = (level: "info" | "warn", message: string, fields: Record<string, unknown>) => void;

/** A counter by result (a prom-client Counter with the label `result` fits as is). */
export interface ReloadCounter {
  inc(labels: { result: ReloadResult }): void;
}

export interface PolicySourceDeps {
  log: PolicyLog;
  reloads: ReloadCounter;
  now?: () => number;
  /** Wait after a file event before reading (writers that write in pieces). Default 100 ms. */
  debounceMs?: number;
  /** How often the file's stat is compared when no event comes. Default 1000 ms; 0 turns polling off. */
  pollMs?: number;
  /** File events (fs.watch); default true. Off, only polling notices changes (as on a network file system). */
  fileEvents?: boolean;
}

export type PolicySpec = { path: string } | { inline: unknown; where: string };

export interface PolicyInForce {
  compiled: CompiledPolicy;
  /** The file path, or where the inline object was written. */
  origin: string;
  /** When this policy was applied (epoch ms). */
  appliedAt: number;
}

export interface ReloadOutcome {
  result: ReloadResult;
  hash: string;
  /** The refused file's problems, for `invalid`. */
  error?: PolicyError;
}

/** `policy` of a tenant's config entry: a path (relative to the config file's directory) or an object. */
export function policySpecOf(value: unknown, configDir: string, where: string): PolicySpec {
  if (typeof value === "string" && value !== "") return { path: isAbsolute(value) ? value : resolve(configDir, value) };
  return { inline: value, where };
}

/** `AGENT_RUNNER_PROXY_POLICY`, if set: the policy file of the single-tenant gateway. */
export function policySpecFromEnv(env: Readonly<Record<string, string | undefined>>, cwd: string): PolicySpec | undefined {
  const path = env[POLICY_ENV];
  return path ? { path: resolve(cwd, path) } : undefined;
}

interface Signature {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

const sameSignature = (a: Signature | undefined, b: Signature | undefined) => a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

class FileMissing extends Error {
  readonly code = "missing";
}

/** Reads the whole file through one descriptor, refusing it past the size cap; returns its text and signature. */
async function readPolicyFile(path: string): Promise<{ text: string; signature: Signature }> {
  let handle;
  try {
    handle = await openFile(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new FileMissing(`no file at ${path}`);
    throw new PolicyError("policy_unreadable", path, [{ member: "(policy)", message: `cannot be read: ${(e as Error).message}` }], { cause: e });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new PolicyError("policy_unreadable", path, [{ member: "(policy)", message: "is not a regular file" }]);
    if (info.size > MAX_POLICY_BYTES) throw new PolicyError("policy_unreadable", path, [{ member: "(policy)", message: `is larger than ${MAX_POLICY_BYTES} bytes` }]);
    const text = await handle.readFile("utf8");
    return { text, signature: { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs } };
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    throw new PolicyError("policy_unreadable", path, [{ member: "(policy)", message: `cannot be read: ${(e as Error).message}` }], { cause: e });
  } finally {
    await handle.close();
  }
}

async function signatureOf(path: string): Promise<Signature | undefined> {
  try {
    const s = await stat(path);
    return { dev: s.dev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
  } catch {
    return undefined;
  }
}

const textHash = (text: string) => createHash("sha256").update(text).digest("hex");

export class PolicySource {
  private inForce: PolicyInForce;
  private readonly listeners = new Set<(next: PolicyInForce, previous: PolicyInForce) => void>();
  private readonly path: string | undefined;
  /** What the last look at the file saw, so an unchanged file is neither re-read nor re-reported. */
  private lastSignature: Signature | undefined;
  private lastTextHash: string | undefined;
  private lastProblem: string | undefined;
  private running: Promise<ReloadOutcome> | undefined;
  private again: { force: boolean } | undefined;
  private watcher: FSWatcher | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private debounceTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  private constructor(
    spec: PolicySpec,
    first: { compiled: CompiledPolicy; signature?: Signature; textHash?: string },
    private readonly deps: PolicySourceDeps,
  ) {
    this.path = "path" in spec ? spec.path : undefined;
    this.inForce = { compiled: first.compiled, origin: "path" in spec ? spec.path : spec.where, appliedAt: this.now() };
    this.lastSignature = first.signature;
    this.lastTextHash = first.textHash;
  }

  /** Loads the policy; throws the PolicyError of an invalid or missing first file (the gateway must not start without it). */
  static async open(spec: PolicySpec, deps: PolicySourceDeps): Promise<PolicySource> {
    if ("inline" in spec) return new PolicySource(spec, { compiled: compilePolicy(validatePolicy(spec.inline, spec.where).policy) }, deps);
    let read;
    try {
      read = await readPolicyFile(spec.path);
    } catch (e) {
      if (e instanceof FileMissing) throw new PolicyError("policy_unreadable", spec.path, [{ member: "(policy)", message: "does not exist" }], { cause: e });
      throw e;
    }
    const { policy } = parsePolicyText(read.text, spec.path);
    const source = new PolicySource(spec, { compiled: compilePolicy(policy), signature: read.signature, textHash: textHash(read.text) }, deps);
    deps.log("info", `policy ${spec.path} in force: ${shortHash(source.inForce.compiled.hash)}`, { policy_file: spec.path, policy_hash: source.inForce.compiled.hash });
    return source;
  }

  /** The policy in force now: take it once per request and use that one throughout. */
  current(): PolicyInForce {
    return this.inForce;
  }

  /** Called after each applied reload with the new and the previous policy (audit, metrics, caches). */
  onChange(listener: (next: PolicyInForce, previous: PolicyInForce) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Reads the file again and applies it if valid. `force` (SIGHUP, an operator's request) reads
   * and reports even when the file looks unchanged; otherwise an unchanged file costs one stat.
   * Concurrent calls share the running reload, and one more runs after it if asked meanwhile.
   */
  reload(options: { force?: boolean } = {}): Promise<ReloadOutcome> {
    const force = options.force ?? false;
    if (this.running) {
      this.again = { force: force || (this.again?.force ?? false) };
      return this.running.then(() => this.running ?? this.reload({ force }));
    }
    const run = this.reloadOnce(force)
      .catch((e: unknown) => this.refuse("invalid", true, `policy reload of ${this.inForce.origin} failed (${(e as Error).message}); keeping the policy in force (${shortHash(this.inForce.compiled.hash)})`, { policy_file: this.inForce.origin }))
      .finally(() => {
      this.running = undefined;
      const next = this.again;
      this.again = undefined;
      if (next && !this.closed) void this.reload(next);
    });
    this.running = run;
    return run;
  }

  /** Starts watching the file (no-op for an inline policy). */
  watch(): this {
    if (!this.path || this.watcher || this.closed) return this;
    const file = basename(this.path);
    if (this.deps.fileEvents !== false) {
      try {
        // The directory, not the file: an atomic rename replaces the file's inode, which a watch on the file would lose.
        this.watcher = watch(dirname(this.path), { persistent: false }, (_event, name) => {
          if (name === null || name === file || String(name).startsWith("..")) this.schedule();
        });
        this.watcher.on("error", () => this.watcher?.close());
      } catch {
        // no inotify (or the directory is gone): polling still notices
      }
    }
    const pollMs = this.deps.pollMs ?? 1000;
    if (pollMs > 0) {
      this.pollTimer = setInterval(() => void this.poll(), pollMs);
      this.pollTimer.unref?.();
    }
    return this;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.reload(), this.deps.debounceMs ?? 100);
    this.debounceTimer.unref?.();
  }

  private async poll(): Promise<void> {
    if (this.closed || this.running || !this.path) return;
    const signature = await signatureOf(this.path);
    if (signature === undefined ? this.lastProblem !== "missing" : !sameSignature(signature, this.lastSignature)) this.schedule();
  }

  private async reloadOnce(force: boolean): Promise<ReloadOutcome> {
    const hash = this.inForce.compiled.hash;
    if (!this.path) return { result: "unchanged", hash };
    const path = this.path;
    let read;
    try {
      if (!force && sameSignature(await signatureOf(path), this.lastSignature)) return { result: "unchanged", hash };
      read = await readPolicyFile(path);
    } catch (e) {
      if (e instanceof FileMissing) return this.refuse("missing", force, `policy file ${path} is missing; keeping the policy in force (${shortHash(hash)})`, { policy_file: path });
      if (!(e instanceof PolicyError)) throw e;
      this.lastSignature = await signatureOf(path); // not read again until it changes
      return this.refuseInvalid(e, force);
    }
    // A writer still at work: judge the file once it stops changing.
    if (!sameSignature(await signatureOf(path), read.signature)) {
      this.schedule();
      return { result: "unchanged", hash };
    }
    this.lastSignature = read.signature;
    const digest = textHash(read.text);
    if (!force && digest === this.lastTextHash && this.lastProblem === undefined) return { result: "unchanged", hash };
    this.lastTextHash = digest;
    let compiled: CompiledPolicy;
    try {
      compiled = compilePolicy(parsePolicyText(read.text, path).policy);
    } catch (e) {
      if (e instanceof PolicyError) return this.refuseInvalid(e, force);
      throw e;
    }
    this.lastProblem = undefined;
    if (compiled.hash === hash) {
      this.deps.reloads.inc({ result: "unchanged" });
      return { result: "unchanged", hash };
    }
    const previous = this.inForce;
    this.inForce = { compiled, origin: path, appliedAt: this.now() };
    this.deps.reloads.inc({ result: "applied" });
    this.deps.log("info", `policy ${path} reloaded: ${shortHash(hash)} -> ${shortHash(compiled.hash)}`, { policy_file: path, policy_hash: compiled.hash, previous_hash: hash });
    for (const listener of this.listeners) {
      try {
        listener(this.inForce, previous);
      } catch (e) {
        this.deps.log("warn", `a policy change listener failed: ${(e as Error).message}`, { policy_file: path });
      }
    }
    return { result: "applied", hash: compiled.hash };
  }

  private refuseInvalid(error: PolicyError, force: boolean): ReloadOutcome {
    const first = error.issues[0];
    const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : "";
    return {
      ...this.refuse("invalid", force, `policy file ${error.lines()[0] ?? error.message}${more}; keeping the policy in force (${shortHash(this.inForce.compiled.hash)})`, {
        policy_file: error.origin,
        ...(first ? { member: first.member, problem: first.message, ...(first.line !== undefined ? { line: first.line } : {}) } : {}),
        problems: error.issues.length,
      }),
      error,
    };
  }

  /** Keeps the policy in force; says so once per distinct problem (every time when forced). */
  private refuse(result: "invalid" | "missing", force: boolean, message: string, fields: Record<string, unknown>): ReloadOutcome {
    const problem = result === "missing" ? "missing" : message;
    if (force || problem !== this.lastProblem) {
      this.deps.log("warn", message, { ...fields, policy_hash: this.inForce.compiled.hash });
      this.deps.reloads.inc({ result });
    }
    this.lastProblem = problem;
    if (result === "missing") this.lastSignature = undefined;
    return { result, hash: this.inForce.compiled.hash };
  }
}
