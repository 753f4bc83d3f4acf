/**
 * Policy reloads with real files in a temporary directory: atomic rename writes, in-place
 * writes seen by polling only, a writer that stops half way, an invalid file, a deleted file.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync, closeSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PolicyError } from "../../shared/policy/errors.ts";
import { POLICY_ENV, PolicySource, policySpecFromEnv, policySpecOf, type PolicyLog, type ReloadResult } from "./source.ts";

const NARROW = `groups:\n  contractors:\n    models: ["claude-haiku-*"]\n`;
const WIDE = `groups:\n  contractors:\n    models: ["claude-haiku-*", "claude-sonnet-*"]\n`;
const INVALID = `groups:\n  contractors:\n    models: ["claude-haiku-*"]\n    budgets:\n      - period: week\n        usd: 5\n`;

const sources: PolicySource[] = [];
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
});

function harness(options: { pollMs?: number; debounceMs?: number; fileEvents?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "ara-policy-src-"));
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const counts: Partial<Record<ReloadResult, number>> = {};
  const log: PolicyLog = (level, message, fields) => lines.push({ level, message, fields });
  const deps = { log, reloads: { inc: ({ result }: { result: ReloadResult }) => void (counts[result] = (counts[result] ?? 0) + 1) }, pollMs: options.pollMs ?? 100, debounceMs: options.debounceMs ?? 30, fileEvents: options.fileEvents ?? true };
  const open = async (path: string) => {
    const s = await PolicySource.open({ path }, deps);
    sources.push(s);
    return s;
  };
  return { dir, lines, counts, deps, open, warnings: () => lines.filter((l) => l.level === "warn") };
}

/** Writes a file the way config management should: a temporary file, then rename over. */
function atomicWrite(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function until(condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
}

const contractorMay = (s: PolicySource, model: string) => s.current().compiled.access(["contractors"]).mayUse(model);

describe("the first load", () => {
  test("a valid file is in force, with its hash, and said once", async () => {
    const h = harness();
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, NARROW);
    const s = await h.open(path);
    expect(s.current().origin).toBe(path);
    expect(s.current().compiled.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(contractorMay(s, "claude-haiku-4-5")).toBe(true);
    expect(h.lines).toEqual([{ level: "info", message: expect.stringContaining(`policy ${path} in force: sha256:`), fields: expect.objectContaining({ policy_file: path }) }]);
  });

  test("an invalid or missing first file is an error naming the file, line and member: no gateway without its policy", async () => {
    const h = harness();
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, INVALID);
    const e = await h.open(path).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PolicyError);
    expect((e as PolicyError).message).toBe(`${path}:5: groups.contractors.budgets[0].period: must be "day" or "month"`);
    const missing = await h.open(join(h.dir, "absent.yaml")).catch((x: unknown) => x);
    expect((missing as PolicyError).message).toBe(`${join(h.dir, "absent.yaml")}: (policy): does not exist`);
    mkdirSync(join(h.dir, "a-directory.yaml"));
    expect(((await h.open(join(h.dir, "a-directory.yaml")).catch((x: unknown) => x)) as PolicyError).code).toBe("policy_unreadable");
  });

  test("an inline object (the tenant's config) is validated the same way and never reloads", async () => {
    const h = harness();
    const s = await PolicySource.open({ inline: { groups: { contractors: { models: ["*"] } } }, where: 'tenant "acme": policy' }, h.deps);
    expect(contractorMay(s, "claude-opus-4-1")).toBe(true);
    expect(await s.reload({ force: true })).toEqual({ result: "unchanged", hash: s.current().compiled.hash });
    const e = await PolicySource.open({ inline: { groups: { contractors: { models: "*" } } }, where: 'tenant "acme": policy' }, h.deps).catch((x: unknown) => x);
    expect((e as Error).message).toBe('tenant "acme": policy: groups.contractors.models: must be a list');
  });
});

describe("reloads", () => {
  test("an atomic rename that widens a group's models is applied; requests in flight keep their policy", async () => {
    const h = harness({ pollMs: 0 }); // file events alone
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, NARROW);
    const s = (await h.open(path)).watch();
    const changes: string[] = [];
    s.onChange((next, previous) => changes.push(`${previous.compiled.hash.slice(0, 8)}->${next.compiled.hash.slice(0, 8)}`));
    const inFlight = s.current();
    expect(contractorMay(s, "claude-sonnet-4-5")).toBe(false);
    atomicWrite(path, WIDE);
    await until(() => changes.length === 1);
    expect(contractorMay(s, "claude-sonnet-4-5")).toBe(true);
    expect(inFlight.compiled.access(["contractors"]).mayUse("claude-sonnet-4-5")).toBe(false);
    expect(h.counts).toEqual({ applied: 1 });
    expect(h.lines.at(-1)?.message).toMatch(new RegExp(`^policy ${path} reloaded: sha256:[0-9a-f]{12} -> sha256:[0-9a-f]{12}$`));
  });

  test("an invalid file changes nothing: one warning line naming the file, line, member and problem, one count", async () => {
    const h = harness();
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, NARROW);
    const s = (await h.open(path)).watch();
    const before = s.current();
    atomicWrite(path, INVALID);
    await until(() => h.warnings().length === 1);
    await Bun.sleep(400); // several polls: the same problem is not said again
    expect(s.current()).toBe(before);
    expect(h.warnings()).toHaveLength(1);
    const line = h.warnings()[0]!;
    expect(line.message).toBe(`policy file ${path}:5: groups.contractors.budgets[0].period: must be "day" or "month"; keeping the policy in force (sha256:${before.compiled.hash.slice(0, 12)})`);
    expect(line.fields).toMatchObject({ policy_file: path, line: 5, member: "groups.contractors.budgets[0].period", problem: 'must be "day" or "month"', problems: 1 });
    expect(line.message).not.toContain("\n");
    expect(h.counts).toEqual({ invalid: 1 });
    // SIGHUP on the same bad file says it again: the operator asked
    expect((await s.reload({ force: true })).result).toBe("invalid");
    expect(h.warnings()).toHaveLength(2);
    // then a good file is applied
    atomicWrite(path, WIDE);
    await until(() => contractorMay(s, "claude-sonnet-4-5"));
    expect(h.counts.applied).toBe(1);
  });

  test("a writer that stops half way: the old policy stays until the whole file is there", async () => {
    const h = harness();
    const path = join(h.dir, "policy.json");
    const narrow = JSON.stringify({ groups: { contractors: { models: ["claude-haiku-*"] } } }, null, 2);
    const wide = JSON.stringify({ groups: { contractors: { models: ["claude-haiku-*", "claude-sonnet-*"] } }, default: { models: [] } }, null, 2);
    writeFileSync(path, narrow);
    const s = (await h.open(path)).watch();
    const hashes = new Set([s.current().compiled.hash]);
    const sampler = setInterval(() => hashes.add(s.current().compiled.hash), 2);
    const fd = openSync(path, "w"); // truncates, like an editor saving in place
    writeSync(fd, wide.slice(0, wide.length / 2));
    await Bun.sleep(300); // long past the debounce: the gateway looks at the half file
    expect(contractorMay(s, "claude-sonnet-4-5")).toBe(false);
    expect(h.counts.invalid).toBe(1); // it did look, and refused it
    writeSync(fd, wide.slice(wide.length / 2));
    closeSync(fd);
    await until(() => contractorMay(s, "claude-sonnet-4-5"));
    clearInterval(sampler);
    hashes.add(s.current().compiled.hash);
    expect(hashes.size).toBe(2); // the old policy, then the new one: never anything else
    expect(h.counts.applied).toBe(1);
  });

  test("a deleted file keeps the policy in force (said once); the file coming back is applied", async () => {
    const h = harness();
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, NARROW);
    const s = (await h.open(path)).watch();
    const before = s.current();
    rmSync(path);
    await until(() => h.warnings().length === 1);
    await Bun.sleep(300);
    expect(h.warnings().map((l) => l.message)).toEqual([`policy file ${path} is missing; keeping the policy in force (sha256:${before.compiled.hash.slice(0, 12)})`]);
    expect(s.current()).toBe(before);
    expect(h.counts).toEqual({ missing: 1 });
    atomicWrite(path, WIDE);
    await until(() => contractorMay(s, "claude-sonnet-4-5"));
  });

  test("without file events (a network file system), polling notices an in-place edit", async () => {
    const h = harness({ fileEvents: false, pollMs: 50 });
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, NARROW);
    const s = (await h.open(path)).watch();
    writeFileSync(path, WIDE);
    await until(() => contractorMay(s, "claude-sonnet-4-5"));
  });

  test("a symlink swapped like a Kubernetes ConfigMap (..data) is followed", async () => {
    const h = harness({ pollMs: 0 });
    mkdirSync(join(h.dir, "v1"));
    mkdirSync(join(h.dir, "v2"));
    writeFileSync(join(h.dir, "v1", "policy.yaml"), NARROW);
    writeFileSync(join(h.dir, "v2", "policy.yaml"), WIDE);
    symlinkSync("v1", join(h.dir, "..data"));
    symlinkSync("..data/policy.yaml", join(h.dir, "policy.yaml"));
    const s = (await h.open(join(h.dir, "policy.yaml"))).watch();
    symlinkSync("v2", join(h.dir, "..data_tmp"));
    renameSync(join(h.dir, "..data_tmp"), join(h.dir, "..data"));
    await until(() => contractorMay(s, "claude-sonnet-4-5"));
  });

  test("a rewrite with only comments or key order changed is not a new policy", async () => {
    const h = harness();
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, NARROW);
    const s = await h.open(path);
    writeFileSync(path, `# reviewed\n${NARROW}`);
    expect(await s.reload()).toEqual({ result: "unchanged", hash: s.current().compiled.hash });
    expect(h.counts).toEqual({ unchanged: 1 });
    expect(await s.reload()).toEqual({ result: "unchanged", hash: s.current().compiled.hash }); // nothing changed since: not even counted
    expect(h.counts).toEqual({ unchanged: 1 });
  });

  test("concurrent reloads share the work; a listener that throws does not stop the reload", async () => {
    const h = harness();
    const path = join(h.dir, "policy.yaml");
    writeFileSync(path, NARROW);
    const s = await h.open(path);
    s.onChange(() => {
      throw new Error("boom");
    });
    writeFileSync(path, WIDE);
    const outcomes = await Promise.all([s.reload(), s.reload(), s.reload({ force: true })]);
    expect(outcomes.map((o) => o.hash)).toEqual([s.current().compiled.hash, s.current().compiled.hash, s.current().compiled.hash]);
    expect(h.counts.applied).toBe(1);
    expect(contractorMay(s, "claude-sonnet-4-5")).toBe(true);
    expect(h.warnings().map((l) => l.message)).toEqual(["a policy change listener failed: boom"]);
  });
});

describe("where the policy comes from", () => {
  test("AGENT_RUNNER_PROXY_POLICY names a file (relative to the working directory)", () => {
    expect(policySpecFromEnv({ [POLICY_ENV]: "conf/policy.yaml" }, "/srv")).toEqual({ path: "/srv/conf/policy.yaml" });
    expect(policySpecFromEnv({}, "/srv")).toBeUndefined();
  });

  test("a tenant's policy: a path relative to the config file, or an object", () => {
    expect(policySpecOf("policy.yaml", "/etc/agent-runner", 'tenant "acme": policy')).toEqual({ path: "/etc/agent-runner/policy.yaml" });
    expect(policySpecOf("/abs/p.json", "/etc/agent-runner", "x")).toEqual({ path: "/abs/p.json" });
    expect(policySpecOf({ groups: {} }, "/etc", 'tenant "acme": policy')).toEqual({ inline: { groups: {} }, where: 'tenant "acme": policy' });
  });
});
