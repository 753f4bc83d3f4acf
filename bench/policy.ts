/**
 * Micro-benchmark of policy resolution on the request path (issue 18): a policy of 50 groups,
 * 1,000 people with 1 to 3 listed groups each (plus an unlisted federated-pool group), 12
 * models. Per request: the person's Access from their `cognito:groups`, then the model
 * decision, as the gateway will do it. Measured against a reference in the same run: the same
 * resolution without any cache, and the ~47 µs a request costs the 1-process proxy
 * (bench/results/proxy.md: ~21,000 req/s).
 *
 * The directory revalidation's per-request hook (`Revalidator.seen`) is measured beside it.
 *
 * Usage: bun bench/policy.ts  (writes bench/results/policy.md)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { filterModelList } from "../src/shared/policy/models.ts";
import { parsePolicyText } from "../src/shared/policy/parse.ts";
import { compilePolicy } from "../src/shared/policy/resolve.ts";
import { Revalidator } from "../src/proxy/directory/revalidator.ts";

const ROOT = join(import.meta.dir, "..");
const GROUPS = 50;
const PEOPLE = 1000;
const REQUESTS = 1_000_000;
const ROUNDS = 5;
/** What one request costs the 1-process proxy today: 1 s / ~21,000 req/s. */
const REQUEST_NS = 47_000;

// A deterministic generator, so every run measures the same people.
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

const FAMILIES = ["claude-opus-*", "claude-sonnet-*", "claude-haiku-*", "claude-3-*", "*-haiku-*", "us.anthropic.*", "claude-sonnet-4-5"];
const MODELS = ["claude-opus-4-1", "claude-opus-4-5", "claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5", "claude-3-haiku", "claude-3-5-haiku", "us.anthropic.claude-haiku-4-5-v1:0", "claude-3-7-sonnet", "claude-opus-4", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"];

function policyText(): string {
  const groups: Record<string, unknown> = {};
  for (let i = 0; i < GROUPS; i++) {
    groups[`team-${i}`] = {
      models: [pick(FAMILIES), pick(FAMILIES)].filter((m, j, all) => all.indexOf(m) === j),
      budgets: [{ period: "month", usd: 100 + i }, ...(i % 4 === 0 ? [{ period: "day", tokens: 1_000_000, pool: true }] : [])],
      ...(i % 3 === 0 ? { limits: { rpm: 60, tpm: 200_000 } } : {}),
    };
  }
  return JSON.stringify({ groups, default: { models: ["claude-haiku-*"], budgets: [{ period: "day", usd: 1 }] } });
}

const people = Array.from({ length: PEOPLE }, () => {
  const n = 1 + Math.floor(random() * 3);
  const mine = new Set<string>();
  while (mine.size < n) mine.add(`team-${Math.floor(random() * GROUPS)}`);
  return [...mine, "eu-west-1_Pool_ExampleCorp"];
});
const requests = Array.from({ length: 4096 }, () => ({ person: Math.floor(random() * PEOPLE), model: pick(MODELS) }));

const parsed = parsePolicyText(policyText(), "bench-policy.json").policy;

/** ns per call of `body(i)`, the median of ROUNDS rounds of `count` calls; `sink` keeps the work alive. */
let sink = 0;
function measure(count: number, body: (i: number) => number): number {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = Bun.nanoseconds();
    for (let i = 0; i < count; i++) sink += body(i);
    rounds.push((Bun.nanoseconds() - started) / count);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
}

const compiled = compilePolicy(parsed);
for (const groups of people) compiled.access(groups); // warm: the gateway's steady state

const parseMs = (() => {
  const started = Bun.nanoseconds();
  parsePolicyText(policyText(), "bench-policy.json");
  return (Bun.nanoseconds() - started) / 1e6;
})();

const req = (i: number) => requests[i & 4095]!;
const hot = measure(REQUESTS, (i) => {
  const { person, model } = req(i);
  const access = compiled.access(people[person]!);
  return (access.mayUse(model) ? 1 : 0) + access.budgets.length;
});
const copies = measure(REQUESTS, (i) => people[req(i).person]!.slice().length);
const freshArray = measure(REQUESTS, (i) => {
  const { person, model } = req(i);
  const access = compiled.access(people[person]!.slice());
  return (access.mayUse(model) ? 1 : 0) + access.budgets.length;
});
const uncached = measure(REQUESTS / 20, (i) => {
  const { person, model } = req(i);
  const access = compiled.resolveUncached(people[person]!);
  return (access.mayUse(model) ? 1 : 0) + access.budgets.length;
});
const cold = measure(1, () => {
  const fresh = compilePolicy(parsed);
  let n = 0;
  for (const groups of people) n += fresh.access(groups).budgets.length;
  return n;
}) / PEOPLE;
const page = { data: MODELS.map((id) => ({ type: "model", id, display_name: id })), has_more: false, first_id: MODELS[0], last_id: MODELS.at(-1) };
const listing = measure(REQUESTS / 10, (i) => {
  const access = compiled.access(people[req(i).person]!);
  const r = filterModelList(page, (m) => access.mayUse(m));
  return r.ok ? r.removed : 0;
});

// The directory revalidation's hook on the request path: one sighting per request, 1,000 active sessions.
const revalidator = new Revalidator({
  fetch: async () => Response.json({}),
  userInfoEndpoint: async () => "http://userinfo.invalid/",  // never asked: fetch is a stub
  revoke: async () => {},
  log: () => {},
  checks: { inc: () => {} },
  now: Date.now,
});
const sightings = people.map((_, i) => ({ tenant: "acme", issuer: "https://issuer.example", sub: `sub-${i}`, sessionId: `session-${i}`, accessToken: `token-${i}`, expiresAt: Date.now() + 3_600_000, displayName: `person-${i}` }));
for (const s of sightings) revalidator.seen(s);
await revalidator.settled(); // each checked once: none is due again for a minute
const sighting = measure(REQUESTS, (i) => {
  revalidator.seen(sightings[req(i).person]!);
  return 1;
});

const ns = (x: number) => (x < 1000 ? `${x.toFixed(0)} ns` : `${(x / 1000).toFixed(2)} µs`);
const share = (x: number) => `${((x / REQUEST_NS) * 100).toFixed(2)} %`;
const rows: [string, number][] = [
  ["per request, steady state (the token's groups array reused: the verify cache's case)", hot],
  ["per request, a new groups array each time (cache by contents; the copy itself subtracted)", Math.max(0, freshArray - copies)],
  ["reference: the same resolution without any cache", uncached],
  ["first request of a new group set (cold cache), averaged over the 1,000 people", cold],
  ["GET /v1/models: filter a 12-model page for the person", listing],
  ["directory revalidation: a request's sighting (1,000 active sessions, none due)", sighting],
];
const distinctSets = new Set(people.map((g) => g.filter((x) => x.startsWith("team-")).sort().join(","))).size;
const report = `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${cpus()[0]?.model.trim() ?? "?"} (${cpus().length} vCPU, load average before: ${loadavg().map((l) => l.toFixed(2)).join(" ")}); Bun ${Bun.version}.
Policy: ${GROUPS} groups, ${PEOPLE} people with 1 to 3 listed groups each plus an unlisted one (${distinctSets} distinct sets), ${MODELS.length} models; ${REQUESTS.toLocaleString("en")} requests per round, median of ${ROUNDS} rounds. Parsing and validating the policy: ${parseMs.toFixed(1)} ms (once per load or reload).

| what | per call | share of a ~47 µs request |
|---|---:|---:|
${rows.map(([what, x]) => `| ${what} | ${ns(x)} | ${share(x)} |`).join("\n")}

The request path pays the first row; the issue's bound is 5 % of throughput (about ${ns(REQUEST_NS * 0.05)} per request).
`;
console.log(report);
if (sink === -1) console.log(sink);
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "policy.md"), report);
