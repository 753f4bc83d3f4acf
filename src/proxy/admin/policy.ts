/**
 * The tenant policy as the gateway enforces it (docs/policy.md):
 *   GET policy                  → what this replica enforces now: hash, file, when applied, the rules
 *   GET policy/explain?user=U   → what a person gets: groups, models, budgets and limits, each with
 *                                 its source (a policy group, `default`, the admin API, the gateway's
 *                                 configured rate limits). Their groups are those of their last
 *                                 sighting the state store recorded (at most an hour old).
 */
import { explainAccess, showPolicy } from "../policy/enforcement.ts";
import { jsonAnswer } from "../http/answers.ts";
import { BadInput } from "../http/errors.ts";
import type { TenantExchange } from "../http/exchange.ts";
import { type Budget, budgetCounter } from "../model/budgets.ts";
import { personIds, type Person } from "../model/person.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import type { Subject } from "../model/subjects.ts";
import type { ExplainedBudgetJson, ExplainedLimitJson, PolicyExplainJson, PolicyShowJson } from "../../shared/gateway-api.ts";
import { notSeenNote, UnknownPerson, USER_KINDS } from "./people.ts";

export async function showTenantPolicy(ex: TenantExchange): Promise<Response> {
  const inForce = ex.runtime.accessPolicy?.current();
  if (!inForce) return jsonAnswer({ hash: null, origin: null, applied_at: null, groups: {}, default: null } satisfies PolicyShowJson);
  return jsonAnswer(showPolicy(inForce) satisfies PolicyShowJson);
}

const counts = (s: Subject) => (s.kind === "user" ? "this person" : s.kind === "group" ? `group ${s.id}` : "the tenant");

function adminBudget(b: Budget): ExplainedBudgetJson {
  return { source: "admin API", period: b.period, ...(b.unit === "usd" ? { usd: b.limit / 1e6 } : { tokens: b.limit }), soft: b.soft, counts: counts(b.subject) };
}

const rate = (l: { rpm?: number; tpm?: number }) => ({ ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) });

/** The stored limits that count this person, and the configured defaults where none is stored. */
function adminLimits(person: Person, limits: readonly RateLimit[], defaults: TenantExchange["runtime"]["rateDefaults"]): ExplainedLimitJson[] {
  const ids = personIds(person);
  const mine = limits.filter((l) => (l.subject.kind === "user" ? ids.has(l.subject.id) : l.subject.kind === "group" ? person.groups.includes(l.subject.id) : true));
  const out: ExplainedLimitJson[] = mine.map((l) => ({ source: "admin API", ...rate(l), counts: counts(l.subject) }));
  if (defaults.perPerson && !mine.some((l) => l.subject.kind === "user")) out.push({ source: "gateway configuration (per person)", ...rate(defaults.perPerson), counts: "this person" });
  if (defaults.perTenant && !mine.some((l) => l.subject.kind === "tenant")) out.push({ source: "gateway configuration (per tenant)", ...rate(defaults.perTenant), counts: "the tenant" });
  return out;
}

export async function explainTenantPolicy(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  const tenant = ex.runtime.config.slug;
  const user = query.get("user");
  if (!user) throw new BadInput("give user=<username, e-mail or sub>");
  const kind = query.get("kind") ?? undefined;
  if (kind !== undefined && !(USER_KINDS as readonly string[]).includes(kind)) throw new BadInput("kind is sub, username or email");
  const people = await ex.ctx.state.findPeople(tenant, user, kind as (typeof USER_KINDS)[number] | undefined);
  const seen = people[0];
  if (!seen) throw new UnknownPerson(`${notSeenNote(user, kind as (typeof USER_KINDS)[number] | undefined)}: their groups come from their token`);
  if (people.length > 1) throw new BadInput(`${people.length} people match ${user} (${people.map((p) => p.sub).join(", ")}): name one by --kind sub, username or email`);
  const person: Person = { tenant, sub: seen.sub, ...(seen.username ? { username: seen.username } : {}), ...(seen.email ? { email: seen.email } : {}), displayName: seen.displayName, groups: seen.groups ?? [] };
  const inForce = ex.runtime.accessPolicy?.current();
  const now = Date.now();
  const [budgets, limits] = await Promise.all([ex.ctx.state.listBudgets(tenant), ex.ctx.state.listLimits(tenant)]);
  const fromPolicy = inForce ? explainAccess(person, inForce.compiled.access(person.groups)) : undefined;
  const answer: PolicyExplainJson = {
    user: person.displayName,
    sub: person.sub,
    groups: seen.groups ? [...seen.groups] : null,
    policy_hash: inForce ? inForce.compiled.hash : null,
    policy_groups: fromPolicy?.policy_groups ?? [],
    default_applies: fromPolicy?.default_applies ?? false,
    models: fromPolicy?.models ?? [{ pattern: "*", source: "no policy" }],
    budgets: [...(fromPolicy?.budgets ?? []), ...budgets.filter((b) => budgetCounter(b, person, now) !== undefined).map(adminBudget)],
    limits: [...(fromPolicy?.limits ?? []), ...adminLimits(person, limits, ex.runtime.rateDefaults)],
    last_seen: new Date(seen.lastSeen).toISOString(),
  };
  return jsonAnswer(answer);
}
