/**
 * The tenant policy (issue 18 §1) through two real proxy processes (`--policy FILE`) sharing a
 * real redis-server: model rules and the filtered model list for people in zero, one and two of
 * its groups (messages, count_tokens, models/{id}, paging kept); a per-person and a pooled budget,
 * refused by their policy member; a reload that widens a group's models, applied on both replicas
 * within 5 s while a stream in flight finishes untouched; an invalid file that changes nothing
 * (its log line, the metric, SIGHUP); `/readyz`'s hash; `admin policy show` and `admin policy
 * explain` through the real CLI binary (with a budget set through the admin API beside the policy).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_KEY, admin, messageBody, post, type ProxyProcess, useGateway, within } from "../support/gateway.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { randomPort } from "../support/ports.ts";
import { baseEnv, isolatedHome, runCli } from "../support/cli.ts";

const gateway = useGateway();
let redis: TestRedis;
let a: ProxyProcess;
let b: ProxyProcess;
let dir: string;
let policyFile: string;
let metricsPort: number;

const POLICY = (contractorModels: string) => `# the test's policy
groups:
  contractors:
    models: [${contractorModels}]
  developers:
    models: ["claude-sonnet-*", "claude-haiku-*"]
  interns:
    models: ["claude-haiku-*"]
    budgets:
      - { period: day, tokens: 2500 }
  platform:
    models: ["*"]
    budgets:
      - { period: day, tokens: 2500, pool: true }
default:
  models: ["claude-haiku-*"]
`;

/** Writes the policy the way a deployment tool does: a new file renamed over the old one. */
function writePolicy(text: string): void {
  const next = join(dir, `.policy-${crypto.randomUUID()}.yaml`);
  writeFileSync(next, text);
  renameSync(next, policyFile);
}

/** `groups` undefined: a token without the claim (the forge's default claim removed). */
const person = (name: string, groups: string[] | undefined) => gateway.forge.sign({ sub: `sub-${name}`, username: name, origin_jti: `session-${name}-${crypto.randomUUID()}`, "cognito:groups": groups });
const ask = (url: string, token: string, model: string, extra: Record<string, unknown> = {}) => post(url, token, messageBody({ model, ...extra }));
const get = (url: string, token: string, path: string) => fetch(`${url}/anthropic/v1${path}`, { headers: { authorization: `Bearer ${token}`, "anthropic-version": "2023-06-01" } });
const modelIds = async (response: Response) => ((await response.json()) as { data: { id: string }[] }).data.map((m) => m.id);
const readyHash = async (url: string) => /policy (sha256:[0-9a-f]{64})/.exec(await (await fetch(`${url}/readyz`)).text())?.[1];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ara-policy-"));
  policyFile = join(dir, "policy.yaml");
  writePolicy(POLICY(`"claude-haiku-*"`));
  redis = await startTestRedis();
  metricsPort = randomPort();
  // a: two workers whatever the host's cores (the default is three per four), so the reload metric is seen per worker
  [a, b] = await Promise.all([gateway.startProxy({ state: redis.url, args: ["--policy", policyFile, "--workers", "2"], metricsPort }), gateway.startProxy({ state: redis.url, args: ["--policy", policyFile] })]);
}, 30_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("models: zero, one and two groups", () => {
  test("a model outside the person's set is refused before forwarding, naming it and what they may use", async () => {
    const [nobody, contractor, developer, both] = await Promise.all([person("nobody", undefined), person("carl", ["contractors"]), person("dana", ["developers", "unlisted"]), person("priya", ["developers", "platform"])]);
    await fetch(`${gateway.stub.url}/_stub/reset`, { method: "POST" });
    // allowed: forwarded on either replica
    for (const [token, model] of [[nobody, "claude-haiku-4-5"], [contractor, "claude-haiku-4-5"], [developer, "claude-sonnet-4-5"], [both, "claude-opus-4-1"]] as const) {
      for (const url of [a.url, b.url]) expect((await ask(url, token, model)).status).toBe(200);
    }
    // refused: 403 permission_error, model_not_allowed, the model and the person's patterns named
    const refused = await ask(b.url, contractor, "claude-opus-4-1");
    expect(refused.status).toBe(403);
    expect(refused.headers.get("x-agent-runner-reason")).toBe("model_not_allowed");
    const body = (await refused.json()) as { type: string; error: { type: string; message: string } };
    expect(body.error.type).toBe("permission_error");
    expect(body.error.message).toBe('The model "claude-opus-4-1" is not available to you: your group (contractors) may use: claude-haiku-*.');
    const defaultRefusal = await ask(a.url, nobody, "claude-sonnet-4-5");
    const fromDefault = (await defaultRefusal.json()) as { error: { message: string } };
    expect(defaultRefusal.status, JSON.stringify(fromDefault)).toBe(403);
    expect(fromDefault.error.message).toContain("people in none of the policy's groups may use: claude-haiku-*");
    const dev = await ask(a.url, developer, "claude-opus-4-1");
    expect(dev.status).toBe(403);
    expect(((await dev.json()) as { error: { message: string } }).error.message).toContain("may use: claude-sonnet-*, claude-haiku-*");
    // count_tokens and models/{id} are checked the same way
    const count = await fetch(`${a.url}/anthropic/v1/messages/count_tokens`, { method: "POST", headers: { authorization: `Bearer ${contractor}`, "content-type": "application/json" }, body: JSON.stringify({ model: "claude-sonnet-4-5", messages: [] }) });
    expect(count.status).toBe(403);
    expect(count.headers.get("x-agent-runner-reason")).toBe("model_not_allowed");
    expect((await get(b.url, contractor, "/v1/models/claude-opus-4-1")).status).toBe(403);
    expect((await get(b.url, both, "/v1/models/claude-opus-4-1")).status).toBe(200);
    // nothing refused reached the upstream: 8 messages and one models/{id}
    const upstream = (await (await fetch(`${gateway.stub.url}/_stub/requests`)).json()) as { path: string; body: string }[];
    expect(upstream.length).toBe(9);
    expect(upstream.filter((r) => r.body.includes("claude-opus-4-1")).length).toBe(2); // priya's, on each replica
  }, 20_000);

  test("GET /v1/models lists only what the person may use, paging kept", async () => {
    const [nobody, contractor, developer, both] = await Promise.all([person("nobody", []), person("carl", ["contractors"]), person("dana", ["developers"]), person("priya", ["contractors", "platform"])]);
    expect(await modelIds(await get(a.url, nobody, "/v1/models"))).toEqual(["claude-haiku-4-5"]);
    expect(await modelIds(await get(b.url, contractor, "/v1/models"))).toEqual(["claude-haiku-4-5"]);
    expect(await modelIds(await get(a.url, developer, "/v1/models"))).toEqual(["claude-sonnet-4-5", "claude-haiku-4-5"]);
    expect(await modelIds(await get(b.url, both, "/v1/models"))).toEqual(["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-stub"]);
    // two upstream models a page: opus is filtered out of the first, the cursor pages on from what the person saw
    const first = (await (await get(a.url, developer, "/v1/models?limit=2")).json()) as { data: { id: string }[]; has_more: boolean; first_id: string; last_id: string };
    expect(first).toMatchObject({ has_more: true, first_id: "claude-sonnet-4-5", last_id: "claude-sonnet-4-5" });
    expect(first.data.map((m) => m.id)).toEqual(["claude-sonnet-4-5"]);
    const second = (await (await get(b.url, developer, `/v1/models?limit=2&after_id=${first.last_id}`)).json()) as { data: { id: string }[]; has_more: boolean };
    expect(second.data.map((m) => m.id)).toEqual(["claude-haiku-4-5"]);
    expect(second.has_more).toBe(false);
  });
});

/** Asks until a budget refuses (403); answers how many were served first and the refusal's message. */
async function spendUntilRefused(token: string, urls: string[]): Promise<{ served: number; message: string }> {
  let served = 0;
  for (let i = 0; i < 30; i++) {
    const response = await ask(urls[i % urls.length]!, token, "claude-haiku-4-5");
    if (response.status === 200) served++;
    else if (response.status === 403) return { served, message: ((await response.json()) as { error: { message: string } }).error.message };
    else expect(response.headers.get("x-agent-runner-reason")).toBe("budget_held"); // a settle still on its way
    await response.body?.cancel().catch(() => {});
    await Bun.sleep(150);
  }
  throw new Error("never refused");
}

describe("budgets from the policy", () => {
  test("per person: one intern's spend refuses them, named by the policy member; another intern is untouched", async () => {
    const [ines, ivan] = await Promise.all([person("ines", ["interns"]), person("ivan", ["interns"])]);
    const { served, message } = await spendUntilRefused(ines, [a.url, b.url]);
    expect(served).toBeGreaterThan(0);
    expect(message).toContain("groups.interns.budgets[0]");
    expect(message).toContain("your daily budget of 2500 tokens");
    expect((await ask(b.url, ivan, "claude-haiku-4-5")).status).toBe(200);
    // `agent-runner-auth usage` shows the policy budget too, used up for ines
    const mine = (await (await fetch(`${a.url}/_gateway/v1/me/usage`, { headers: { authorization: `Bearer ${ines}` } })).json()) as { budgets: { period: string; unit: string; limit: number; used: number; remaining: number }[] };
    expect(mine.budgets).toContainEqual(expect.objectContaining({ user: "sub-ines", period: "day", unit: "tokens", limit: 2500 }));
    expect(mine.budgets.find((x) => x.limit === 2500)!.used).toBeGreaterThan(0);
  }, 20_000);

  test("pooled: one platform member's spend refuses every member, on both replicas", async () => {
    const [pat, quinn] = await Promise.all([person("pat", ["platform"]), person("quinn", ["platform", "developers"])]);
    const { served, message } = await spendUntilRefused(pat, [a.url]);
    expect(served).toBeGreaterThan(0);
    expect(message).toContain("group platform's daily budget of 2500 tokens (policy groups.platform.budgets[0])");
    const other = await ask(b.url, quinn, "claude-haiku-4-5");
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: { message: string } }).error.message).toContain("groups.platform.budgets[0]");
  }, 20_000);
});

describe("reloads", () => {
  test("a widened group applies on both replicas within 5 s; a stream in flight finishes untouched", async () => {
    const carl = await person("carl", ["contractors"]);
    const before = await readyHash(a.url);
    expect(before).toMatch(/^sha256:/);
    expect(await readyHash(b.url)).toBe(before);
    expect((await ask(a.url, carl, "claude-sonnet-4-5")).status).toBe(403);
    // a slow stream, started under the old policy
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal", eventDelayMs: 400 }) });
    const stream = await ask(b.url, carl, "claude-haiku-4-5", { stream: true });
    expect(stream.status).toBe(200);
    const streamText = stream.text();
    writePolicy(POLICY(`"claude-haiku-*", "claude-sonnet-*"`));
    const took = await within(5000, async () => (await Promise.all([a.url, b.url].map(async (url) => (await ask(url, carl, "claude-sonnet-4-5")).status))).every((s) => s === 200));
    expect(took).toBeLessThan(5000);
    console.log(`reload applied on both replicas in ${Math.round(took)} ms`);
    const text = await streamText;
    expect(text).toContain("message_stop");
    await fetch(`${gateway.stub.url}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal" }) });
    const after = await readyHash(a.url);
    expect(after).not.toBe(before);
    expect(await readyHash(b.url)).toBe(after);
    expect(a.stderr()).toContain("reloaded");
  }, 20_000);

  test("an invalid file changes nothing: one log line naming the member, the metric, the same hash; SIGHUP says it again", async () => {
    const carl = await person("carl", ["contractors"]);
    const hash = await readyHash(a.url);
    writePolicy(POLICY(`"claude-haiku-*", "claude-sonnet-*"`).replace("period: day, tokens: 2500 }", "period: week, tokens: 2500 }"));
    const member = "groups.interns.budgets[0].period";
    await within(5000, async () => a.stderr().includes(member) && b.stderr().includes(member));
    const line = a.stderr().split("\n").find((l) => l.includes(member))!;
    expect(line).toContain("keeping the policy in force");
    expect(line).toContain(policyFile);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    // each of the proxy's worker processes reads the file and counts it once
    expect(metrics).toMatch(/proxy_policy_reloads_total\{worker="0",tenant="default",result="invalid"\} 1\n/);
    expect(metrics).toContain(`proxy_policy_info{worker="0",tenant="default",hash="${hash}"} 1`);
    // still the policy in force: the widened contractors, the same hash on both
    expect(await readyHash(a.url)).toBe(hash);
    expect(await readyHash(b.url)).toBe(hash);
    expect((await ask(b.url, carl, "claude-sonnet-4-5")).status).toBe(200);
    expect((await ask(b.url, carl, "claude-opus-4-1")).status).toBe(403);
    // SIGHUP (to the supervisor, which forwards it to each worker) reads the file again and says so again
    const count = (text: string) => text.split("\n").filter((l) => l.includes(member)).length;
    const seen = count(b.stderr());
    b.child.kill("SIGHUP");
    await within(3000, async () => count(b.stderr()) > seen);
    expect(await readyHash(b.url)).toBe(hash);
    // the audit log: one policy.reload row per policy in force (the first and the widened), whichever replica wrote it; none for the invalid file
    const rows = (await (await admin(a.url, "audit", ADMIN_KEY)).json()) as { actor: string; action: string; target: string; new: { hash: string } }[];
    const reloads = rows.filter((r) => r.action === "policy.reload");
    expect(reloads.map((r) => r.actor)).toEqual(["policy", "policy"]);
    expect(reloads.map((r) => r.target)).toEqual([policyFile, policyFile]);
    expect(`sha256:${reloads[1]!.new.hash}`).toBe(hash!);
  }, 20_000);
});

describe("admin policy show and explain through the CLI binary", () => {
  test("show: the hash /readyz gives; explain: a person's groups, models, budgets and limits with their sources", async () => {
    const env = baseEnv({ ...isolatedHome(), CI: "1" });
    const keyFile = gateway.files.adminKeyFile;
    const hash = await readyHash(a.url);
    const show = await runCli(["admin", "policy", "show", "--json", "--admin-key-file", keyFile, "--tenant-url", a.url], env);
    expect(show.code, show.stderr).toBe(0);
    const shown = JSON.parse(show.stdout) as { hash: string; origin: string; groups: Record<string, unknown> };
    expect(`sha256:${shown.hash}`).toBe(hash!);
    expect(shown.origin).toBe(policyFile);
    expect(Object.keys(shown.groups)).toEqual(["contractors", "developers", "interns", "platform"]);
    const text = await runCli(["admin", "policy", "show", "--admin-key-file", keyFile, "--tenant-url", b.url], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`hash: ${hash}`);
    expect(text.stdout).toContain("budgets[0]: 2500 tokens per day, shared by the group");

    // ivan (interns) was seen; an admin adds a monthly budget of his own beside the policy's
    const set = await admin(a.url, "budgets", ADMIN_KEY, { method: "PUT", body: JSON.stringify({ user: "ivan", period: "month", usd: 20 }) });
    expect(set.status).toBe(200);
    const explain = await runCli(["admin", "policy", "explain", "--user", "ivan", "--json", "--admin-key-file", keyFile, "--tenant-url", b.url], env);
    expect(explain.code, explain.stderr).toBe(0);
    const explained = JSON.parse(explain.stdout) as Record<string, unknown>;
    expect(explained).toMatchObject({
      user: "ivan",
      sub: "sub-ivan",
      groups: ["interns"],
      policy_hash: hash!.slice("sha256:".length),
      policy_groups: ["interns"],
      default_applies: false,
      models: [{ pattern: "claude-haiku-*", source: "group interns" }],
      budgets: [
        { name: "groups.interns.budgets[0]", source: "group interns", period: "day", tokens: 2500, soft: false, counts: "this person" },
        { source: "admin API", period: "month", usd: 20, soft: false, counts: "this person" },
      ],
    });
    const words = await runCli(["admin", "policy", "explain", "--user", "ivan", "--admin-key-file", keyFile, "--tenant-url", a.url], env);
    expect(words.code, words.stderr).toBe(0);
    expect(words.stdout).toContain("claude-haiku-*  (group interns)");
    expect(words.stdout).toContain("(group interns: groups.interns.budgets[0])");
    expect(words.stdout).toContain("(admin API)");
    // someone never seen: exit 2, their groups come from their token
    const unknown = await runCli(["admin", "policy", "explain", "--user", "nobody-here", "--admin-key-file", keyFile, "--tenant-url", a.url], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("no token seen for nobody-here");
  }, 30_000);
});
