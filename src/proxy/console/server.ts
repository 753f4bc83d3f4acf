/**
 * The admin console under `/_gateway/console/`: its files, the browser sign-in (authorization
 * code + PKCE with the tenant's Cognito, the console's own app client), the session cookie, and
 * the console API (src/shared/console-api.ts). One handler with narrow dependencies, so the
 * gateway wires it with one line in its `/_gateway` table:
 *
 *   const answer = await handleConsole(request, deps);   // undefined: not a console path
 *
 * Sessions: an opaque random id in an HttpOnly, SameSite=Strict cookie (Secure and `__Host-` off
 * loopback); the tokens stay server-side, sealed under that id (session.ts), refreshed silently.
 * Every API call verifies the access token as the gateway does (signature, issuer, client,
 * expiry, denylist) and needs an admin group; every change also needs the CSRF token, the
 * page's own origin and a same-origin fetch. Nothing of the console's data is served otherwise.
 */
import {
  CONSOLE_API, CONSOLE_BASE, CONSOLE_CALLBACK, CONSOLE_LOGIN, type ConsoleErrorBody, type ConsoleErrorType, ConsoleInputError, CSRF_HEADER, dayOf, type Figures, type GroupRow, type ModelRow,
  parseAuditQuery, parseBudgetClear, parseBudgetInput, parseLimitClear, parseLimitInput, parsePersonQuery, parseRange, parseRestore, parseRevocationInput, parseTableQuery, type PersonRow, type PersonSummary, type SessionInfo,
  type TablePage, usd,
} from "../../shared/console-api.ts";
import { toCsv } from "../../shared/csv.ts";
import { readCapped } from "../../shared/read-capped.ts";
import type { Asset, ConsoleAssets } from "./assets.ts";
import type { ConsoleActor, ConsoleData } from "./data.ts";
import { cookieName, readCookie, securityHeaders, setCookie } from "./headers.ts";
import { authorizationUrl, type ConsoleIdp, exchangeCode, type FetchLike, newCodeVerifier, refreshTokens, revokeRefreshToken, SignInError, signedOutUrl } from "./oidc.ts";
import { isTokenShaped, randomToken, type SealedStore, SealedRecords, sameToken } from "./session.ts";

/** Who an access token names, once the gateway's verifier accepted it. */
export interface ConsoleUser {
  sub: string;
  username: string;
  email?: string;
  groups: readonly string[];
}

export interface ConsoleDeps {
  tenant: string;
  idp: ConsoleIdp;
  /** The gateway's own check of an access token (signature, issuer, client id, expiry, revocations); throws when refused, with a message safe to show. */
  verify(accessToken: string): Promise<ConsoleUser>;
  /** Members of any of these `cognito:groups` get the console. */
  adminGroups: readonly string[];
  data: ConsoleData;
  assets: ConsoleAssets;
  /** Shared by every worker and replica (SQLite or Redis, as the gateway's state). */
  sessions: SealedStore;
  clock(): number;
  fetch?: FetchLike;
  /** One line per API call and sign-in step; never a token. */
  log?(line: Record<string, unknown>): void;
}

/** Idle: a session unused this long ends. Absolute: a sign-in lasts at most this long. */
export const SESSION_IDLE_MS = 60 * 60_000;
export const SESSION_MAX_MS = 12 * 60 * 60_000;
const LOGIN_TTL_S = 600;
/** Access tokens this close to expiry are refreshed first. */
const REFRESH_MARGIN_MS = 60_000;
/** A session's idle expiry is pushed back at most this often (one store write). */
const TOUCH_EVERY_MS = 5 * 60_000;
const MAX_BODY = 16 * 1024;

const SESSION_COOKIE = "ara_console";
const LOGIN_COOKIE = "ara_console_login";

interface SessionRecord {
  accessToken: string;
  refreshToken?: string;
  accessExpiresAt: number;
  csrf: string;
  createdAt: number;
  lastUsedAt: number;
}

interface PendingLogin {
  state: string;
  verifier: string;
  returnTo: string;
  expires: number;
}

const isLoopbackHost = (host: string) => host === "127.0.0.1" || host === "localhost" || host === "[::1]" || host.startsWith("127.");
/** Only a hash route of the console itself comes back from the sign-in (never another URL). */
const RETURN_TO = /^#\/[A-Za-z0-9/_.@%-]{0,300}$/;

function summaryOf(user: ConsoleUser): PersonSummary {
  return { sub: user.sub, username: user.username, ...(user.email ? { email: user.email } : {}), name: user.email ?? user.username, groups: [...user.groups] };
}

export function createConsoleHandler(deps: ConsoleDeps): (request: Request) => Promise<Response | undefined> {
  const redirect = new URL(deps.idp.redirectUri);
  const secure = !(redirect.protocol === "http:" && isLoopbackHost(redirect.hostname));
  const origin = redirect.origin;
  const security = securityHeaders(secure);
  const records = new SealedRecords<SessionRecord>(deps.sessions, "session");
  const refreshing = new Map<string, Promise<SessionRecord | null>>();
  const fetchImpl = deps.fetch ?? fetch;
  const log = (line: Record<string, unknown>) => deps.log?.({ time: new Date(deps.clock()).toISOString(), tenant: deps.tenant, route: "console", ...line });

  const headers = (extra: Record<string, string>) => ({ ...security, ...extra });
  const json = (value: unknown, status = 200, extra: Record<string, string> = {}) => new Response(JSON.stringify(value), { status, headers: headers({ "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...extra }) });
  const apiError = (status: number, type: ConsoleErrorType, message: string, more: Partial<ConsoleErrorBody> = {}) => json({ error: { type, message }, ...more } satisfies ConsoleErrorBody, status);
  const page = (status: number, title: string, text: string, extra: Record<string, string> = {}) =>
    new Response(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="${CONSOLE_LOGIN}">Sign in again</a></p></main></body></html>`, {
      status,
      headers: headers({ "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...extra }),
    });

  function serveAsset(request: Request, a: Asset, immutable: boolean): Response {
    const cache = immutable ? "public, max-age=31536000, immutable" : "no-cache";
    const common = { "content-type": a.type, "cache-control": cache, etag: a.etag, vary: "accept-encoding" };
    if (request.headers.get("if-none-match") === a.etag) return new Response(null, { status: 304, headers: headers(common) });
    const accepts = request.headers.get("accept-encoding") ?? "";
    const [body, encoding] = /\bbr\b/.test(accepts) ? [a.br, "br"] : /\bgzip\b/.test(accepts) ? [a.gzip, "gzip"] : [a.body, undefined];
    return new Response(request.method === "HEAD" ? null : body, { headers: headers({ ...common, ...(encoding ? { "content-encoding": encoding } : {}), "content-length": String(body.byteLength) }) });
  }

  // ---- sign-in

  async function startLogin(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const returnTo = url.searchParams.get("return") ?? "";
    const pending: PendingLogin = { state: randomToken(), verifier: newCodeVerifier(), returnTo: RETURN_TO.test(returnTo) ? returnTo : "", expires: deps.clock() + LOGIN_TTL_S * 1000 };
    // kept in the browser (HttpOnly, Lax so the IdP's redirect back carries it): nothing is stored for an anonymous visitor
    const cookie = setCookie(LOGIN_COOKIE, Buffer.from(JSON.stringify(pending)).toString("base64url"), { secure, sameSite: "Lax", maxAge: LOGIN_TTL_S });
    log({ step: "login_start" });
    return new Response(null, { status: 302, headers: headers({ location: await authorizationUrl(deps.idp, pending.state, pending.verifier), "set-cookie": cookie, "cache-control": "no-store" }) });
  }

  function pendingFrom(request: Request): PendingLogin | undefined {
    const raw = readCookie(request.headers.get("cookie"), cookieName(LOGIN_COOKIE, secure));
    if (!raw || raw.length > 2048) return undefined;
    try {
      const p = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as PendingLogin;
      return typeof p.state === "string" && typeof p.verifier === "string" && typeof p.expires === "number" && p.expires > deps.clock() ? p : undefined;
    } catch {
      return undefined;
    }
  }

  async function finishLogin(request: Request): Promise<Response> {
    const clearLogin = setCookie(LOGIN_COOKIE, "", { secure, sameSite: "Lax", maxAge: 0 });
    const pending = pendingFrom(request);
    if (!pending) return page(400, "Sign-in expired", "This sign-in was not started in this browser or took longer than 10 minutes.", { "set-cookie": clearLogin });
    let user: ConsoleUser;
    let tokens;
    try {
      tokens = await exchangeCode(deps.idp, new URL(request.url), pending.state, pending.verifier, deps.clock(), fetchImpl);
      user = await deps.verify(tokens.accessToken);
    } catch (e) {
      log({ step: "login_failed", reason: e instanceof SignInError ? e.code : "token_refused" });
      return page(e instanceof SignInError && e.code === "idp_unreachable" ? 502 : 400, "Sign-in failed", (e as Error).message, { "set-cookie": clearLogin });
    }
    const id = randomToken();
    const now = deps.clock();
    await records.put(id, { accessToken: tokens.accessToken, ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}), accessExpiresAt: tokens.expiresAt, csrf: randomToken(), createdAt: now, lastUsedAt: now }, SESSION_IDLE_MS);
    log({ step: "login", sub: user.sub, username: user.username });
    const response = new Response(null, { status: 303, headers: headers({ location: `${CONSOLE_BASE}${pending.returnTo}`, "cache-control": "no-store" }) });
    response.headers.append("set-cookie", clearLogin);
    response.headers.append("set-cookie", setCookie(SESSION_COOKIE, id, { secure, sameSite: "Strict", maxAge: Math.floor(SESSION_MAX_MS / 1000) }));
    return response;
  }

  // ---- sessions

  const sessionIdOf = (request: Request) => {
    const id = readCookie(request.headers.get("cookie"), cookieName(SESSION_COOKIE, secure));
    return isTokenShaped(id) ? id : undefined;
  };

  /** The session's tokens, refreshed when close to expiry (once per process at a time); null: it ended. */
  async function currentTokens(id: string, record: SessionRecord): Promise<SessionRecord | null> {
    const now = deps.clock();
    if (record.accessExpiresAt - now > REFRESH_MARGIN_MS) return record;
    if (!record.refreshToken) return null;
    let running = refreshing.get(id);
    if (!running) {
      running = refreshTokens(deps.idp, record.refreshToken, now, fetchImpl)
        .then(async (t) => {
          const next: SessionRecord = { ...record, accessToken: t.accessToken, ...(t.refreshToken ? { refreshToken: t.refreshToken } : {}), accessExpiresAt: t.expiresAt, lastUsedAt: now };
          await records.put(id, next, SESSION_IDLE_MS);
          log({ step: "refresh" });
          return next;
        })
        .catch((e: unknown) => {
          log({ step: "refresh_failed", reason: e instanceof SignInError ? e.code : "error" });
          return null;
        })
        .finally(() => refreshing.delete(id));
      refreshing.set(id, running);
    }
    return running;
  }

  type Authenticated = { id: string; record: SessionRecord; user: ConsoleUser; admin: boolean };

  async function authenticate(request: Request): Promise<Authenticated | Response> {
    const id = sessionIdOf(request);
    const signIn = { login: CONSOLE_LOGIN };
    if (!id) return apiError(401, "unauthenticated", "sign in to use the console", signIn);
    const stored = await records.get(id);
    const now = deps.clock();
    if (!stored || now - stored.createdAt > SESSION_MAX_MS || now - stored.lastUsedAt > SESSION_IDLE_MS) return apiError(401, "unauthenticated", "your console session has ended: sign in again", signIn);
    const record = await currentTokens(id, stored);
    if (!record) {
      await records.delete(id);
      return apiError(401, "unauthenticated", "your console session could not be renewed: sign in again", signIn);
    }
    let user: ConsoleUser;
    try {
      user = await deps.verify(record.accessToken);
    } catch (e) {
      await records.delete(id);
      return apiError(401, "unauthenticated", `your sign-in is no longer accepted (${(e as Error).message}): sign in again`, signIn);
    }
    if (now - record.lastUsedAt > TOUCH_EVERY_MS) await records.put(id, { ...record, lastUsedAt: now }, SESSION_IDLE_MS);
    return { id, record, user, admin: deps.adminGroups.some((g) => user.groups.includes(g)) };
  }

  const forbidden = (a: Authenticated, withCsrf: boolean) =>
    apiError(403, "forbidden", deps.adminGroups.length ? `the console is for members of ${deps.adminGroups.join(", ")}` : "the console is for members of an admin group, and this tenant has none configured", {
      user: summaryOf(a.user),
      needed_groups: [...deps.adminGroups],
      ...(withCsrf ? { csrf_token: a.record.csrf } : {}),
    });

  /** A change must carry the session's CSRF token and come from the console's own page. */
  function csrfRefusal(request: Request, a: Authenticated): Response | undefined {
    const token = request.headers.get(CSRF_HEADER) ?? "";
    const from = request.headers.get("origin");
    const site = request.headers.get("sec-fetch-site");
    if (!sameToken(token, a.record.csrf)) return apiError(403, "bad_csrf", `this change needs the console's ${CSRF_HEADER} header: reload the page`);
    if ((from !== null && from !== origin) || (site !== null && site !== "same-origin")) return apiError(403, "bad_csrf", "changes are accepted only from the console's own page");
    return undefined;
  }

  async function body(request: Request): Promise<unknown> {
    if (!(request.headers.get("content-type") ?? "").startsWith("application/json")) throw new ConsoleInputError("body", "send the body as application/json");
    if (!request.body) throw new ConsoleInputError("body", "the body is a JSON object");
    const bytes = await readCapped(request.body, MAX_BODY, { tooLarge: () => new ConsoleInputError("body", `the body is over ${MAX_BODY / 1024} KiB`) });
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    } catch {
      throw new ConsoleInputError("body", "the body is not valid JSON");
    }
  }

  // ---- the API

  async function api(request: Request, endpoint: string): Promise<Response> {
    const started = performance.now();
    const auth = await authenticate(request);
    if (auth instanceof Response) return auth;
    const method = request.method;
    const mutating = method !== "GET" && method !== "HEAD";
    if (mutating) {
      const refused = csrfRefusal(request, auth);
      if (refused) return refused;
    }
    if (endpoint === "logout" && method === "POST") return logout(auth);
    if (!auth.admin) return forbidden(auth, endpoint === "session");
    const by: ConsoleActor = { name: auth.user.email ?? auth.user.username, sub: auth.user.sub };
    const today = dayOf(deps.clock());
    const params = new URL(request.url).searchParams;
    let answer: Response;
    try {
      answer = await route(endpoint, method, params, request, today, by, auth);
    } catch (e) {
      answer = failure(e);
    }
    log({ method, endpoint, status: answer.status, duration_ms: Math.round(performance.now() - started), username: auth.user.username });
    return answer;
  }

  async function route(endpoint: string, method: string, params: URLSearchParams, request: Request, today: string, by: ConsoleActor, auth: Authenticated): Promise<Response> {
    const d = deps.data;
    const key = `${method} ${endpoint}`;
    switch (key) {
      case "GET session":
        return json({ tenant: deps.tenant, user: summaryOf(auth.user), csrf_token: auth.record.csrf, expires_at: new Date(Math.min(auth.record.createdAt + SESSION_MAX_MS, deps.clock() + SESSION_IDLE_MS)).toISOString(), today } satisfies SessionInfo);
      case "GET overview":
        return json(await d.overview(parseRange(params, today), today));
      case "GET people":
        return table("people", await d.people(parseTableQuery(params, today), today), parseTableQuery(params, today).format);
      case "GET groups":
        return table("groups", await d.groups(parseTableQuery(params, today), today), parseTableQuery(params, today).format);
      case "GET models":
        return table("models", await d.models(parseTableQuery(params, today), today), parseTableQuery(params, today).format);
      case "GET person": {
        const q = parsePersonQuery(params, today);
        const found = await d.person(q.sub, q.range, today);
        return found ? json(found) : apiError(404, "not_found", "nobody with that sub has used this gateway in the time the console keeps");
      }
      case "GET budgets":
        return json(await d.budgets(today));
      case "PUT budgets":
      case "POST budgets":
        return json(await d.setBudget(parseBudgetInput(await body(request)), by, today));
      case "DELETE budgets":
        return json({ cleared: await d.clearBudget(parseBudgetClear(params), by) });
      case "PUT limits":
      case "POST limits":
        return json(await d.setLimit(parseLimitInput(await body(request)), by));
      case "DELETE limits":
        return json({ cleared: await d.clearLimit(parseLimitClear(params).subject, by) });
      case "GET audit":
        return json(await d.audit(parseAuditQuery(params, today)));
      case "GET revocations":
        return json({ revocations: await d.revocations() });
      case "POST revocations":
        return json({ revocations: await d.revoke(parseRevocationInput(await body(request)), by) });
      case "DELETE revocations":
        return json({ restored: await d.restore(parseRestore(params), by) });
    }
    const known = ["session", "overview", "people", "groups", "models", "person", "budgets", "limits", "audit", "revocations", "logout"].includes(endpoint);
    return known ? apiError(405, "invalid_request", `${method} is not supported on ${endpoint}`) : apiError(404, "not_found", `no console endpoint ${endpoint}`);
  }

  async function logout(auth: Authenticated): Promise<Response> {
    await records.delete(auth.id);
    if (auth.record.refreshToken) await revokeRefreshToken(deps.idp, auth.record.refreshToken, fetchImpl);
    log({ step: "logout", username: auth.user.username });
    return json({ next: signedOutUrl(deps.idp, `${CONSOLE_BASE}?signed_out=1`) }, 200, { "set-cookie": setCookie(SESSION_COOKIE, "", { secure, sameSite: "Strict", maxAge: 0 }) });
  }

  function table(kind: "people" | "groups" | "models", page: TablePage<PersonRow> | TablePage<GroupRow> | TablePage<ModelRow>, format: "json" | "csv"): Response {
    if (format === "json") return json(page);
    return new Response(tableCsv(kind, page), {
      headers: headers({ "content-type": "text/csv; charset=utf-8", "cache-control": "no-store", "content-disposition": `attachment; filename="${kind}-${page.range.from}-${page.range.to}.csv"` }),
    });
  }

  function failure(e: unknown): Response {
    if (e instanceof ConsoleInputError) return apiError(400, "invalid_request", e.message);
    const code = (e as { code?: string }).code;
    if (code === "STATE_INPUT" || code === "ROLLUP_INPUT") return apiError(400, "invalid_request", (e as Error).message);
    if (code === "STATE_UNAVAILABLE" || code === "ROLLUP_UNAVAILABLE") return apiError(503, "unavailable", "the gateway's state store is unavailable; try again in a minute");
    log({ step: "error", error: (e as Error)?.message });
    return apiError(500, "internal", "the console could not answer; the gateway's log has the details");
  }

  return async (request: Request): Promise<Response | undefined> => {
    const path = new URL(request.url).pathname;
    if (path === "/_gateway/console") return new Response(null, { status: 308, headers: headers({ location: CONSOLE_BASE }) });
    if (!path.startsWith(CONSOLE_BASE)) return undefined;
    const method = request.method;
    const rest = path.slice(CONSOLE_BASE.length);
    if (path.startsWith(CONSOLE_API)) return api(request, path.slice(CONSOLE_API.length));
    if (method !== "GET" && method !== "HEAD") return apiError(405, "invalid_request", "use GET here");
    if (rest === "") return serveAsset(request, deps.assets.index, false);
    if (path === CONSOLE_LOGIN) return startLogin(request);
    if (path === CONSOLE_CALLBACK) return finishLogin(request);
    if (rest.startsWith("assets/")) {
      const a = deps.assets.files.get(rest.slice("assets/".length));
      if (a) return serveAsset(request, a, true);
    }
    return apiError(404, "not_found", "no such console page");
  };
}

/** One call, building the handler on first use (the gateway's `/_gateway` table calls this). */
export function handleConsole(request: Request, deps: ConsoleDeps): Promise<Response | undefined> {
  let handler = handlers.get(deps);
  if (!handler) handlers.set(deps, (handler = createConsoleHandler(deps)));
  return handler(request);
}
const handlers = new WeakMap<ConsoleDeps, (request: Request) => Promise<Response | undefined>>();

const FIGURE_COLUMNS = ["requests", "input_tokens", "output_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens", "cost_usd", "unpriced_requests"] as const;

function figureCells(f: Figures): (string | number)[] {
  return [f.requests, f.input_tokens, f.output_tokens, f.cache_write_5m_tokens, f.cache_write_1h_tokens, f.cache_read_tokens, usd(f.cost_micro_usd), f.unpriced_requests];
}

/** A table page as CSV for spreadsheets (formula-looking text made inert, shared/csv.ts). */
export function tableCsv(kind: "people" | "groups" | "models", page: TablePage<PersonRow> | TablePage<GroupRow> | TablePage<ModelRow>): string {
  if (kind === "people") {
    const rows = (page as TablePage<PersonRow>).rows.map((r) => [r.name, r.username ?? "", r.email ?? "", r.sub, r.groups.join(" "), ...figureCells(r), r.budget ? r.budget.fraction : ""]);
    return toCsv(["person", "username", "email", "sub", "groups", ...FIGURE_COLUMNS, "budget_burn"], rows);
  }
  if (kind === "groups") return toCsv(["group", ...FIGURE_COLUMNS, "budget_burn"], (page as TablePage<GroupRow>).rows.map((r) => [r.group, ...figureCells(r), r.budget ? r.budget.fraction : ""]));
  return toCsv(["model", ...FIGURE_COLUMNS], (page as TablePage<ModelRow>).rows.map((r) => [r.model, ...figureCells(r)]));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
