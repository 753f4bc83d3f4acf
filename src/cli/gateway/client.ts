/**
 * A typed client for the tenant gateway's own endpoints (docs/proxy.md, "Endpoints outside
 * /anthropic/"): logout, the caller's usage, and the admin API. Every request goes through a
 * size- and time-bounded transport (bounded-fetch by default), to a URL the endpoint policy
 * accepts (https off loopback), without following redirects (a redirect could carry the bearer
 * elsewhere); every failure is a GatewayError with a code.
 */
import { boundedFetch, CaFileError, type Bounds } from "../oauth/bounded-fetch.ts";
import { checkEndpointUrl, checkTenantUrl } from "../../shared/endpoint-policy.ts";
import { gatewayReason } from "../../shared/gateway-reasons.ts";
import type { AdminKey } from "./admin-key.ts";
import { type CredentialKind, failureFromError, failureFromResponse, type FailureContext, GatewayError } from "./errors.ts";
import {
  type AuditRowJson, type Budget, type BudgetUnit, type LogoutAnswer, type Matched, type MyUsage, type Period, type RateLimit, type RestoreAnswer, type Revocation, type RevokeAnswer, ShapeError, type Subject, type UsageDimension, type UsageReportRow, type UserKind, type PolicyExplainJson, type PolicyShowJson,
  parseAuditRows, parseBudgetAnswer, parseBudgets, parseCleared, parseLimitAnswer, parseLimits, parseLogout, parseMyUsage, parseRestored, parseRevocations, parseRevokeAnswer, parseUsageReport, parsePolicyExplain, parsePolicyShow,
  ADMIN_PATH, LOGOUT_PATH, ME_USAGE_PATH, SESSION_PATH,
} from "../../shared/gateway-api.ts";

/** The gateway's word on a token: refused with its reason header (when it sent one), or unknown with why. */
export type TokenAcceptance = { verdict: "accepted" } | { verdict: "refused"; reason: string | null } | { verdict: "unknown"; why: string };

/** fetch with bounds: what the client needs from the network (boundedFetch, or a fake in tests). */
export type GatewayHttp = (url: string, init: RequestInit, bounds: Bounds) => Promise<Response>;

/** Returns the person's current access token (the session's `token` logic; never a browser). */
export type AccessTokenProvider = () => Promise<string>;

export type AdminCredential = { kind: "token"; accessToken: AccessTokenProvider } | { kind: "admin_key"; key: AdminKey };

/** Endpoints the tenant announced in its discovery document (`logout_endpoint`, `usage_endpoint`). */
export interface GatewayEndpoints {
  logout?: string;
  usage?: string;
}

export interface GatewayClientOptions {
  /** The profile's tenant URL (https://<slug>.proxy.<domain>). */
  tenantUrl: string;
  endpoints?: GatewayEndpoints;
  http?: GatewayHttp;
  /** Per request, connect to last byte (default 15 s). */
  timeoutMs?: number;
  /** What a 401 tells the person to run (default "agent-runner-auth login"). */
  loginCommand?: string;
}

export const DEFAULT_TIMEOUT_MS = 15_000;
/** Self-service answers and small admin answers. */
const SMALL_BYTES = 256 * 1024;
/** Lists of budgets, limits, revocations. */
const LIST_BYTES = 4 * 1024 * 1024;
/** A usage report: thousands of people over a year by day still fits. */
const REPORT_BYTES = 32 * 1024 * 1024;

/**
 * The gateway's URLs for a tenant. An announced endpoint is used only on the tenant's own
 * origin: the access token is for this proxy and must not be sent anywhere else.
 */
export function gatewayUrls(tenantUrl: string, endpoints: GatewayEndpoints = {}): { logout: string; usage: string; session: string; admin: (resource: string) => string } {
  const tenant = checkTenantUrl("the tenant URL", tenantUrl);
  const base = tenant.href.replace(/\/+$/, "");
  const sameOrigin = (value: string | undefined, what: string): string | undefined => {
    // another origin (or no URL at all) is ignored, not an error: the tenant's own path still works
    if (value === undefined || !URL.canParse(value) || new URL(value).origin !== tenant.origin) return undefined;
    return checkEndpointUrl(what, value).href;
  };
  return {
    logout: sameOrigin(endpoints.logout, "the logout endpoint") ?? `${base}${LOGOUT_PATH}`,
    usage: sameOrigin(endpoints.usage, "the usage endpoint") ?? `${base}${ME_USAGE_PATH}`,
    session: `${base}${SESSION_PATH}`,
    admin: (resource) => `${base}${ADMIN_PATH}${resource}`,
  };
}

/** `logout_endpoint` and `usage_endpoint` from an (already parsed) discovery document, if present. */
export function endpointsFromDiscovery(doc: unknown): GatewayEndpoints {
  const ext = (doc as { agent_runner_auth?: Record<string, unknown> } | null)?.agent_runner_auth;
  const pick = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const logout = pick(ext?.logout_endpoint);
  const usage = pick(ext?.usage_endpoint);
  return { ...(logout ? { logout } : {}), ...(usage ? { usage } : {}) };
}

export interface UsageQuery {
  since?: string;
  until?: string;
  by?: UsageDimension;
  format: "json" | "csv";
}

export type UsageReport = { format: "json"; by: UsageDimension; rows: UsageReportRow[] } | { format: "csv"; by: UsageDimension; csv: string };

export type BudgetSetting = { subject: Subject; period: Period; soft: boolean } & ({ usd: number } | { tokens: number });
export interface BudgetSelector {
  subject: Subject;
  period: Period;
  unit?: BudgetUnit;
}
export type LimitSetting = { subject: Subject; rpm?: number; tpm?: number };
export type RevocationTarget = ({ user: string; kind?: UserKind } | { session: string }) & { reason?: string };

export interface AdminClient {
  usage(query: UsageQuery): Promise<UsageReport>;
  listBudgets(): Promise<Budget[]>;
  setBudget(budget: BudgetSetting): Promise<Budget & Matched>;
  clearBudget(selector: BudgetSelector): Promise<{ cleared: number } & Matched>;
  listLimits(): Promise<RateLimit[]>;
  setLimit(limit: LimitSetting): Promise<RateLimit & Matched>;
  clearLimit(subject: Subject): Promise<{ cleared: number } & Matched>;
  listRevocations(): Promise<Revocation[]>;
  revoke(target: RevocationTarget): Promise<RevokeAnswer>;
  restore(target: RevocationTarget): Promise<RestoreAnswer>;
  showPolicy(): Promise<PolicyShowJson>;
  explainPolicy(user: string, kind?: UserKind): Promise<PolicyExplainJson>;
  /** The audit log from `since` (a UTC day) on. */
  listAudit(since?: string): Promise<AuditRowJson[]>;
}

export interface GatewayClient {
  readonly urls: ReturnType<typeof gatewayUrls>;
  /** POST logout with the session's own access token: the gateway denylists that sign-in. */
  logoutSession(accessToken: string, options?: { timeoutMs?: number }): Promise<LogoutAnswer>;
  /** The caller's use today and this month, and their budgets. */
  myUsage(accessToken: string, options?: { timeoutMs?: number }): Promise<MyUsage>;
  /**
   * Whether the gateway still accepts this access token (the API's own checks: revocations and
   * signed-out sessions included). Never throws: a gateway that cannot be asked is "unknown".
   */
  tokenAcceptance(accessToken: string, options: { timeoutMs: number }): Promise<TokenAcceptance>;
  admin(credential: AdminCredential): AdminClient;
}

interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  action: string;
  bearer: string;
  credential: CredentialKind;
  admin: boolean;
  body?: unknown;
  accept?: string;
  maxBytes: number;
  timeoutMs?: number;
}

function subjectQuery(subject: Subject): Record<string, string> {
  return "user" in subject ? { user: subject.user, ...(subject.kind ? { kind: subject.kind } : {}) } : "group" in subject ? { group: subject.group } : { tenant: "1" };
}

function subjectBody(subject: Subject): Record<string, string | true> {
  return "user" in subject ? { user: subject.user, ...(subject.kind ? { kind: subject.kind } : {}) } : "group" in subject ? { group: subject.group } : { tenant: true };
}

function withQuery(url: string, query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
  const text = params.toString();
  return text ? `${url}?${text}` : url;
}

export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const http = options.http ?? boundedFetch;
  const defaultTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const loginCommand = options.loginCommand ?? "agent-runner-auth login";
  let urls: ReturnType<typeof gatewayUrls>;
  try {
    urls = gatewayUrls(options.tenantUrl, options.endpoints);
  } catch (e) {
    throw failureFromError(e, { action: "use the gateway", url: options.tenantUrl, credential: "token", admin: false, loginCommand, timeoutMs: defaultTimeout });
  }

  /** One exchange; resolves to the answer's text on 2xx, else throws a GatewayError. */
  async function exchange(call: Call): Promise<{ text: string; contentType: string }> {
    const timeoutMs = call.timeoutMs ?? defaultTimeout;
    const context: FailureContext = { action: call.action, url: call.url, credential: call.credential, admin: call.admin, loginCommand, timeoutMs };
    let response: Response;
    let text: string;
    try {
      checkEndpointUrl("the gateway endpoint", call.url); // again just before sending: https off loopback
      const headers: Record<string, string> = { authorization: `Bearer ${call.bearer}`, accept: call.accept ?? "application/json" };
      if (call.body !== undefined) headers["content-type"] = "application/json";
      response = await http(call.url, { method: call.method, headers, redirect: "manual", ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}) }, { maxBytes: call.maxBytes, timeoutMs });
      text = await response.text();
    } catch (e) {
      if (e instanceof CaFileError) throw e; // the user's configuration, not the gateway's fault
      throw failureFromError(e, context);
    }
    if (response.status >= 300 && response.status < 400) {
      throw new GatewayError("bad_response", `the gateway answered a redirect (HTTP ${response.status}) when asked to ${call.action}; not followed, so your credential stays with the tenant`, "Check the tenant URL in the profile (agent-runner-auth status).", { status: response.status });
    }
    if (response.status < 200 || response.status >= 300) throw failureFromResponse(response, text, context);
    return { text, contentType: response.headers.get("content-type") ?? "" };
  }

  async function json<T>(call: Call, parse: (value: unknown) => T): Promise<T> {
    const { text } = await exchange(call);
    try {
      return parse(JSON.parse(text) as unknown);
    } catch (e) {
      const why = e instanceof ShapeError ? e.message : "not JSON";
      throw new GatewayError("bad_response", `the gateway's answer when asked to ${call.action} is not what this version expects (${why})`, "The proxy may be of another version; tell the tenant's operator.", { cause: e });
    }
  }

  function admin(credential: AdminCredential): AdminClient {
    const bearer = async () => (credential.kind === "token" ? credential.accessToken() : credential.key.reveal());
    const call = async (method: Call["method"], resource: string, action: string, extra: Partial<Call> = {}): Promise<Call> => ({
      method,
      url: urls.admin(resource),
      action,
      bearer: await bearer(),
      credential: credential.kind,
      admin: true,
      maxBytes: SMALL_BYTES,
      ...extra,
    });
    return {
      async usage(query) {
        const by = query.by ?? "user";
        const url = withQuery(urls.admin("usage"), { since: query.since, until: query.until, by, format: query.format });
        const c = await call("GET", "usage", "read the usage report", { url, maxBytes: REPORT_BYTES, ...(query.format === "csv" ? { accept: "text/csv" } : {}) });
        if (query.format === "csv") {
          const { text, contentType } = await exchange(c);
          if (!contentType.startsWith("text/csv")) throw new GatewayError("bad_response", `the gateway answered ${contentType || "no content type"} instead of CSV for the usage report`);
          return { format: "csv", by, csv: text };
        }
        return { format: "json", by, rows: await json(c, (v) => parseUsageReport(v, by)) };
      },
      listBudgets: async () => json(await call("GET", "budgets", "list the budgets", { maxBytes: LIST_BYTES }), parseBudgets),
      async setBudget(b) {
        const amount = "usd" in b ? { usd: b.usd } : { tokens: b.tokens };
        return json(await call("PUT", "budgets", "set a budget", { body: { ...subjectBody(b.subject), period: b.period, ...amount, soft: b.soft } }), parseBudgetAnswer);
      },
      async clearBudget(s) {
        const url = withQuery(urls.admin("budgets"), { ...subjectQuery(s.subject), period: s.period, unit: s.unit });
        return json(await call("DELETE", "budgets", "clear a budget", { url }), parseCleared);
      },
      listLimits: async () => json(await call("GET", "limits", "list the rate limits", { maxBytes: LIST_BYTES }), parseLimits),
      async setLimit(l) {
        const body = { ...subjectBody(l.subject), ...(l.rpm !== undefined ? { rpm: l.rpm } : {}), ...(l.tpm !== undefined ? { tpm: l.tpm } : {}) };
        return json(await call("PUT", "limits", "set a rate limit", { body }), parseLimitAnswer);
      },
      async clearLimit(subject) {
        return json(await call("DELETE", "limits", "clear a rate limit", { url: withQuery(urls.admin("limits"), subjectQuery(subject)) }), parseCleared);
      },
      listRevocations: async () => json(await call("GET", "revocations", "list the revocations", { maxBytes: LIST_BYTES }), parseRevocations),
      async revoke(t) {
        const body = "session" in t ? { session: t.session } : { user: t.user, ...(t.kind ? { kind: t.kind } : {}) };
        return json(await call("POST", "revocations", "revoke access", { body: { ...body, ...(t.reason ? { reason: t.reason } : {}) } }), parseRevokeAnswer);
      },
      async restore(t) {
        const query = "session" in t ? { session: t.session } : { user: t.user, kind: t.kind };
        return json(await call("DELETE", "revocations", "restore access", { url: withQuery(urls.admin("revocations"), query) }), parseRestored);
      },
      showPolicy: async () => json(await call("GET", "policy", "show the policy in force", { maxBytes: LIST_BYTES }), parsePolicyShow),
      async explainPolicy(user, kind) {
        return json(await call("GET", "policy/explain", "explain a person's access", { url: withQuery(urls.admin("policy/explain"), { user, kind }) }), parsePolicyExplain);
      },
      listAudit: async (since) => json(await call("GET", "audit", "read the audit log", { url: withQuery(urls.admin("audit"), { since }), maxBytes: REPORT_BYTES }), parseAuditRows),
    };
  }

  return {
    urls,
    logoutSession: (accessToken, o = {}) =>
      json({ method: "POST", url: urls.logout, action: "end the session at the gateway", bearer: accessToken, credential: "token", admin: false, maxBytes: SMALL_BYTES, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }, parseLogout),
    myUsage: (accessToken, o = {}) =>
      json({ method: "GET", url: urls.usage, action: "read your usage", bearer: accessToken, credential: "token", admin: false, maxBytes: SMALL_BYTES, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }, parseMyUsage),
    async tokenAcceptance(accessToken, o) {
      try {
        checkEndpointUrl("the gateway endpoint", urls.session);
        const response = await http(urls.session, { method: "GET", headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" }, redirect: "manual" }, { maxBytes: 4096, timeoutMs: o.timeoutMs });
        // Any 401 is a refusal; the reason header, when present, says which kind.
        if (response.status === 401) return { verdict: "refused", reason: gatewayReason(response.headers) ?? null };
        if (response.status === 200) return { verdict: "accepted" };
        return { verdict: "unknown", why: `HTTP ${response.status}` };
      } catch (e) {
        return { verdict: "unknown", why: (e as Error)?.name === "TimeoutError" ? `no answer within ${o.timeoutMs} ms` : String((e as Error)?.message ?? e) };
      }
    },
    admin,
  };
}
