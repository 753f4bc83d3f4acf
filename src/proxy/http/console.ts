/**
 * The admin console in the gateway (docs/console.md): `/_gateway/console/…` is answered by the
 * console's handler (console/server.ts), which authenticates by its own cookie, before any
 * bearer-token check. Here it is wired: the process's parts (the bundle, built once; the sealed
 * session store beside the state), and per tenant with `console` in its
 * configuration, the handler's dependencies: the IdP (discovered in the background, retried; 503
 * meanwhile), the gateway's verifier with the console's client id and the denylist, and the
 * changes through the admin API's own use cases (admin/*.ts), so a revocation reaches the
 * denylist and every change is in the audit log exactly as from `agent-runner-auth admin`.
 */
import { type ConsoleAssets, buildConsoleAssets } from "../console/assets.ts";
import { type ConsoleActor, createConsoleData, type PolicySettings, type RevocationActions, type SettingActions } from "../console/data.ts";
import { discoverConsoleIdp, type ConsoleIdp } from "../console/oidc.ts";
import { type ConsoleDeps, handleConsole } from "../console/server.ts";
import { MemorySealedStore, RedisSealedStore, type SealedStore, SqliteSealedStore } from "../console/session.ts";
import { consoleVerifier } from "../console/verify.ts";
import { removeBudgets, putBudget } from "../admin/budgets.ts";
import { putLimit, removeLimits } from "../admin/limits.ts";
import { settingIds } from "../admin/people.ts";
import { restoreRevoked, revokePerson, revokeSession } from "../admin/revocations.ts";
import type { Acting } from "../admin/audit.ts";
import { parseStateUrl } from "../state/open.ts";
import type { AuditEntry } from "../model/audit.ts";
import type { Subject } from "../model/subjects.ts";
import { logEvent } from "../telemetry/log.ts";
import { type AuditQuery, type AuditEntry as AuditEntryWire, CONSOLE_BASE, dayMs } from "../../shared/console-api.ts";
import type { ProxyContext, TenantRuntime } from "./context.ts";
import type { TenantExchange } from "./exchange.ts";

/** `/_gateway/console` and everything under `/_gateway/console/`. */
export const isConsolePath = (path: string) => path === CONSOLE_BASE.slice(0, -1) || path.startsWith(CONSOLE_BASE);

/** What every tenant's console in this process shares. */
export interface ConsoleParts {
  /** The bundle: built once (the primary, serve.ts) and handed in, else built here once in the background. */
  assets: Promise<ConsoleAssets>;
  /** Sealed sessions beside the state: the SQLite file, Redis, or memory for `sqlite::memory:`. */
  sessions: SealedStore;
  close(): Promise<void>;
}

/**
 * Opens the session store on the state's file or URL (`prefix`: the state's Redis key prefix).
 * The roll-ups are the state store's own (`GatewayState.rollups`, written with its ledger).
 */
export function openConsoleParts(stateUrl: string, assets: ConsoleAssets | Promise<ConsoleAssets> | undefined, prefix = "ara"): ConsoleParts {
  const location = parseStateUrl(stateUrl);
  const sessions: SealedStore =
    location.kind === "redis" ? new RedisSealedStore(location.url, `${prefix}:console`) : location.path === ":memory:" ? new MemorySealedStore() : new SqliteSealedStore(location.path);
  const built = Promise.resolve(assets ?? buildConsoleAssets());
  // a failed build is said once, here; the console answers 503 (serve below)
  built.catch((e: unknown) => logEvent("error", `the admin console is not served: ${(e as Error).message}`));
  return {
    assets: built,
    sessions,
    async close() {
      await sessions.close();
    },
  };
}

const actorOf = (by: ConsoleActor): Acting => ({ actor: by.name, actorSub: by.sub });

/** Revocations as the admin API makes them (every identifier of the person, the denylist forgotten), audited. */
function revocationActions(ctx: ProxyContext, tenant: string): RevocationActions {
  return {
    async revokeUser(value, by, reason) {
      await revokePerson(ctx, tenant, { value }, by.name, actorOf(by), reason);
    },
    async revokeSession(session, by, reason) {
      await revokeSession(ctx, tenant, session, by.name, actorOf(by), reason);
    },
    async restoreUser(value, by) {
      return (await restoreRevoked(ctx, tenant, { user: { value } }, actorOf(by))).restored;
    },
    async restoreOne(kind, value, by) {
      if (kind === "origin_jti") return (await restoreRevoked(ctx, tenant, { session: value }, actorOf(by))).restored;
      // one identifier's revocation: lifted alone, audited like a restore
      const done = await ctx.state.restore(tenant, kind, value);
      ctx.denylist.forget();
      if (done) await ctx.audit.record({ tenant, ...actorOf(by), action: "restore", target: `${kind} ${value}`, old: [{ kind, value }], new: null });
      return done;
    },
  };
}

/** Budgets and limits as the admin API sets them: a person's cleared under every identifier seen, each change audited. */
function settingActions(ctx: ProxyContext, tenant: string): SettingActions {
  const subjectsOf = async (subject: Subject): Promise<Subject[]> => (subject.kind === "user" ? (await settingIds(ctx, tenant, { value: subject.id })).ids.map((id) => ({ kind: "user", id })) : [subject]);
  return {
    setBudget: (budget, by) => putBudget(ctx, budget, actorOf(by)),
    clearBudget: async (subject, period, unit, by) => removeBudgets(ctx, tenant, subject, await subjectsOf(subject), period, unit, actorOf(by)),
    setLimit: (limit, by) => putLimit(ctx, limit, actorOf(by)),
    clearLimit: async (subject, by) => removeLimits(ctx, tenant, subject, await subjectsOf(subject), actorOf(by)),
  };
}

/**
 * The policy file's budgets and limits a group shares (`pool: true`), read-only in the console,
 * from the policy in force at each call. A per-member budget or limit (one for each person in the
 * group) has no single use to burn against, so the console leaves those to `admin policy`.
 */
function policySettings(runtime: TenantRuntime): PolicySettings | undefined {
  const source = runtime.accessPolicy;
  if (!source) return undefined;
  const groups = () => Object.entries(source.current().compiled.policy.groups ?? {});
  return {
    budgets: () =>
      groups().flatMap(([group, rule]) =>
        (rule.budgets ?? [])
          .filter((b) => b.pool === true)
          .map((b) => ({ subject: { kind: "group" as const, id: group }, period: b.period, unit: b.usd !== undefined ? ("usd" as const) : ("tokens" as const), limit: b.usd !== undefined ? Math.round(b.usd * 1e6) : Math.floor(b.tokens ?? 0), soft: b.soft === true })),
      ),
    limits: () =>
      groups().flatMap(([group, rule]) =>
        rule.limits?.pool === true ? [{ subject: { kind: "group" as const, id: group }, ...(rule.limits.rpm !== undefined ? { rpm: rule.limits.rpm } : {}), ...(rule.limits.tpm !== undefined ? { tpm: rule.limits.tpm } : {}) }] : [],
      ),
  };
}

const DETAIL_CHARS = 300;

function auditRow(e: AuditEntry): AuditEntryWire {
  const value = e.new ?? e.old;
  const detail = value === null || value === undefined ? "" : JSON.stringify(value);
  return { time: new Date(e.time).toISOString(), actor: e.actor, action: e.action, target: e.target, detail: detail.length > DETAIL_CHARS ? `${detail.slice(0, DETAIL_CHARS - 1)}…` : detail };
}

/** The audit log of the range (UTC days, inclusive), newest first, one page. */
function auditPort(ctx: ProxyContext, tenant: string) {
  return async (query: AuditQuery) => {
    const end = dayMs(query.range.to) + 86_400_000;
    const rows = (await ctx.state.listAudit({ tenant, since: dayMs(query.range.from) })).filter((r) => r.time < end).sort((a, b) => b.time - a.time);
    return { total: rows.length, entries: rows.slice(query.offset, query.offset + query.limit).map(auditRow) };
  };
}

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * One tenant's console: its dependencies once the IdP has described itself and the bundle is
 * there. Discovery is one bounded request (console/oidc.ts: 10 s, 64 KiB), retried in the
 * background with a doubling delay up to a minute; until it succeeds the console answers 503.
 */
export class TenantConsole {
  private deps: ConsoleDeps | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private lastError = "";

  constructor(
    private readonly runtime: TenantRuntime,
    private readonly ctx: ProxyContext,
    private readonly parts: ConsoleParts,
  ) {}

  /** Starts discovery (and waits for the bundle) in the background. */
  start(discover: (issuer: string, client: NonNullable<TenantRuntime["config"]["console"]>, scopes: readonly string[]) => Promise<ConsoleIdp> = discoverConsoleIdp): void {
    const attempt = async (delay: number) => {
      if (this.stopped) return;
      const config = this.runtime.config;
      const client = config.console as NonNullable<typeof config.console>;
      try {
        const [idp, assets] = await Promise.all([discover(config.issuer, client, config.cli.scopes), this.parts.assets]);
        if (!this.stopped) this.deps = this.depsWith(idp, assets);
      } catch (e) {
        const message = (e as Error).message;
        if (message !== this.lastError) logEvent("warn", `admin console not ready: ${message}; retrying in the background`, { tenant: config.slug });
        this.lastError = message;
        if (!this.stopped) this.timer = setTimeout(() => void attempt(Math.min(delay * 2, RETRY_MAX_MS)), delay);
      }
    };
    void attempt(RETRY_FIRST_MS);
  }

  /** Resolves once the console can answer (tests, the local tenant). */
  async ready(timeoutMs = 15_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.deps && Date.now() < until && !this.stopped) await new Promise((r) => setTimeout(r, 25));
    return this.deps !== undefined;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private depsWith(idp: ConsoleIdp, assets: ConsoleAssets): ConsoleDeps {
    const { ctx, runtime } = this;
    const { config } = runtime;
    const tenant = config.slug;
    const client = config.console as NonNullable<typeof config.console>;
    return {
      tenant,
      idp,
      verify: consoleVerifier({ tenant, issuer: config.issuer, keys: runtime.keys, clientId: client.clientId, denylist: ctx.denylist }),
      adminGroups: runtime.adminGroups,
      data: createConsoleData({ tenant, rollups: ctx.state.rollups, state: ctx.state, actions: revocationActions(ctx, tenant), settings: settingActions(ctx, tenant), audit: auditPort(ctx, tenant), ...withPolicy(runtime) }),
      assets,
      sessions: this.parts.sessions,
      clock: Date.now,
      // log: per request, in serve (its lines go to that request's exchange)
    };
  }

  /** Answers a console path (isConsolePath); 503 while the IdP or the bundle is not there yet. */
  async serve(ex: TenantExchange): Promise<Response> {
    ex.route = "console";
    const deps = this.deps;
    const answer = deps ? ((await handleConsole(ex.request, { ...deps, log: (line) => noteConsoleLine(ex, deps.tenant, line) })) ?? notFound()) : unavailable(this.lastError);
    ex.end(answer.status);
    return answer;
  }
}

function withPolicy(runtime: TenantRuntime): { policy?: PolicySettings } {
  const policy = policySettings(runtime);
  return policy ? { policy } : {};
}

/** A sign-in step (never a token) is an event line; an API call's line names the signed-in admin, whom the exchange's own line then carries. */
function noteConsoleLine(ex: TenantExchange, tenant: string, line: Record<string, unknown>): void {
  if (typeof line.step === "string") logEvent(line.step.endsWith("failed") || line.step === "error" ? "warn" : "info", `console ${line.step}`, { tenant, ...withoutTime(line) });
  else if (typeof line.username === "string") ex.caller = line.username;
}

function withoutTime(line: Record<string, unknown>): Record<string, unknown> {
  const { time: _time, tenant: _tenant, route: _route, step: _step, ...rest } = line;
  return rest;
}

const notFound = () => Response.json({ error: { type: "not_found", message: "no such console page" } }, { status: 404, headers: { "cache-control": "no-store" } });

function unavailable(reason: string): Response {
  const why = reason ? ` (${reason})` : "";
  return new Response(`The admin console is starting: the identity provider has not answered yet${why}. Try again in a minute.\n`, {
    status: 503,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", "retry-after": "5" },
  });
}
