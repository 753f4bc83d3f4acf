/** The console server with fakes: an IdP token endpoint, a verifier, data; real sealing, real assets. */
import { beforeAll, describe, expect, test } from "bun:test";
import { type ConsoleErrorBody, CSRF_HEADER, type SessionInfo, zeroFigures } from "../../shared/console-api.ts";
import { asset, type ConsoleAssets, indexHtml } from "./assets.ts";
import type { ConsoleData } from "./data.ts";
import { createConsoleHandler, type ConsoleDeps, type ConsoleUser, SESSION_IDLE_MS } from "./server.ts";
import { MemorySealedStore } from "./session.ts";

const ORIGIN = "http://127.0.0.1:4400";
const ISSUER = "http://127.0.0.1:4401/pool";
const assets: ConsoleAssets = {
  index: asset("index.html", new TextEncoder().encode(indexHtml("console-abc.js", ["console-abc.css"], "icon-abc.svg"))),
  files: new Map([["console-abc.js", asset("console-abc.js", new TextEncoder().encode("console.log(1)".repeat(100)))]]),
};

const people = { admin: { sub: "sub-admin", username: "admin", groups: ["admins"] }, demo: { sub: "sub-demo", username: "demo", groups: ["developers"] } } satisfies Record<string, ConsoleUser>;

interface World {
  handle: (r: Request) => Promise<Response | undefined>;
  store: MemorySealedStore;
  tokenCalls: URLSearchParams[];
  revoked: Set<string>;
  now: { t: number };
  changes: string[];
}

function world(options: { redirectUri?: string; tokenTtl?: number; refuseRefresh?: boolean } = {}): World {
  const now = { t: Date.parse("2026-11-29T12:00:00Z") };
  const store = new MemorySealedStore(() => now.t);
  const tokenCalls: URLSearchParams[] = [];
  const revoked = new Set<string>();
  const changes: string[] = [];
  let n = 0;
  // the IdP's token endpoint: a code names the user it was issued for ("code-admin"), tokens name their user
  const fetchImpl = async (url: string, init: RequestInit): Promise<Response> => {
    const body = new URLSearchParams(String(init.body));
    tokenCalls.push(body);
    if (url.endsWith("/revoke")) return new Response(null, { status: 200 });
    if (body.get("grant_type") === "refresh_token" && options.refuseRefresh) return Response.json({ error: "invalid_grant" }, { status: 400 });
    const who = body.get("grant_type") === "refresh_token" ? String(body.get("refresh_token")).split(":")[1] : String(body.get("code")).split("-")[1];
    return Response.json({ access_token: `at:${who}:${++n}`, refresh_token: `rt:${who}`, token_type: "Bearer", expires_in: options.tokenTtl ?? 3600 });
  };
  const data = {
    overview: async () => ({ marker: "overview" }),
    people: async (q: { q: string }) => ({ range: { from: "2026-11-01", to: "2026-11-29" }, total: 1, offset: 0, limit: 50, sort: "cost_micro_usd", dir: "desc", totals: zeroFigures(), rows: [{ ...zeroFigures(), sub: "s1", name: "=HYPERLINK(evil)", username: "x", groups: ["g"], cost_micro_usd: 1_500_000, budget: null, q: q.q }] }),
    setBudget: async (input: { amount: number }, by: { name: string }) => {
      changes.push(`budget ${input.amount} by ${by.name}`);
      return { ok: true };
    },
    revoke: async (input: { user?: string }, by: { name: string }) => {
      changes.push(`revoke ${input.user} by ${by.name}`);
      return [];
    },
  } as unknown as ConsoleData;
  const deps: ConsoleDeps = {
    tenant: "acme",
    idp: { issuer: ISSUER, authorizationEndpoint: `${ISSUER}/oauth2/authorize`, tokenEndpoint: `${ISSUER}/oauth2/token`, revocationEndpoint: `${ISSUER}/oauth2/revoke`, logoutEndpoint: `${ISSUER}/logout`, logoutUri: `${ORIGIN}/_gateway/console/?signed_out=1`, clientId: "console-client", redirectUri: options.redirectUri ?? `${ORIGIN}/_gateway/console/callback`, scopes: ["openid", "email"] },
    verify: async (token) => {
      const who = token.split(":")[1] as keyof typeof people;
      if (revoked.has(who)) throw new Error("an administrator withdrew your access");
      return people[who];
    },
    adminGroups: ["admins"],
    data,
    assets,
    sessions: store,
    clock: () => now.t,
    fetch: fetchImpl,
  };
  return { handle: createConsoleHandler(deps), store, tokenCalls, revoked, now, changes };
}

const req = (path: string, init: RequestInit & { cookie?: string } = {}) => {
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("cookie", init.cookie);
  return new Request(`${ORIGIN}${path}`, { ...init, headers });
};
const must = async (p: Promise<Response | undefined>) => {
  const r = await p;
  if (!r) throw new Error("no answer");
  return r;
};
const cookiesOf = (r: Response) => r.headers.getSetCookie();
const cookieValue = (r: Response, name: string) => cookiesOf(r).find((c) => c.startsWith(`${name}=`))?.split(";")[0]?.slice(name.length + 1);

/** Signs in through /login and /callback as `who`; returns the session cookie header and the CSRF token. */
async function signIn(w: World, who: keyof typeof people, returnTo = ""): Promise<{ cookie: string; csrf: string; callback: Response }> {
  const login = await must(w.handle(req(`/_gateway/console/login${returnTo ? `?return=${encodeURIComponent(returnTo)}` : ""}`)));
  const state = new URL(String(login.headers.get("location"))).searchParams.get("state");
  const loginCookie = `ara_console_login=${cookieValue(login, "ara_console_login")}`;
  const callback = await must(w.handle(req(`/_gateway/console/callback?code=code-${who}&state=${state}`, { cookie: loginCookie })));
  const cookie = `ara_console=${cookieValue(callback, "ara_console")}`;
  const session = await must(w.handle(req("/_gateway/console/api/session", { cookie })));
  const body = (await session.json()) as SessionInfo & ConsoleErrorBody;
  return { cookie, csrf: body.csrf_token ?? "", callback };
}

describe("assets", () => {
  let w: World;
  beforeAll(() => {
    w = world();
  });
  test("index.html: strict CSP, hardening headers, revalidated; files: immutable, brotli or gzip as accepted", async () => {
    const index = await must(w.handle(req("/_gateway/console/")));
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(index.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(index.headers.get("content-security-policy")).not.toContain("unsafe-inline");
    expect(index.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(index.headers.get("x-content-type-options")).toBe("nosniff");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(await index.text()).toContain('src="assets/console-abc.js"');
    const br = await must(w.handle(req("/_gateway/console/assets/console-abc.js", { headers: { "accept-encoding": "gzip, deflate, br" } })));
    expect(br.headers.get("content-encoding")).toBe("br");
    expect(br.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(br.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const gz = await must(w.handle(req("/_gateway/console/assets/console-abc.js", { headers: { "accept-encoding": "gzip" } })));
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    const again = await must(w.handle(req("/_gateway/console/assets/console-abc.js", { headers: { "if-none-match": String(gz.headers.get("etag")) } })));
    expect(again.status).toBe(304);
    expect((await must(w.handle(req("/_gateway/console/assets/nope.js")))).status).toBe(404);
  });
  test("paths outside the console are not its business; /_gateway/console redirects to the slash", async () => {
    expect(await w.handle(req("/_gateway/admin/v1/usage"))).toBeUndefined();
    expect(await w.handle(req("/anthropic/v1/messages"))).toBeUndefined();
    const bare = await must(w.handle(req("/_gateway/console")));
    expect([bare.status, bare.headers.get("location")]).toEqual([308, "/_gateway/console/"]);
  });
});

describe("sign-in", () => {
  test("login: PKCE S256 to the console's client and redirect URI; the pending sign-in lives in a Lax HttpOnly cookie, nothing stored", async () => {
    const w = world();
    const login = await must(w.handle(req("/_gateway/console/login")));
    expect(login.status).toBe(302);
    const to = new URL(String(login.headers.get("location")));
    expect(to.origin + to.pathname).toBe(`${ISSUER}/oauth2/authorize`);
    expect(Object.fromEntries(["client_id", "response_type", "redirect_uri", "code_challenge_method"].map((k) => [k, to.searchParams.get(k)]))).toEqual({ client_id: "console-client", response_type: "code", redirect_uri: `${ORIGIN}/_gateway/console/callback`, code_challenge_method: "S256" });
    expect(to.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookiesOf(login)[0]).toMatch(/^ara_console_login=[^;]+; Path=\/_gateway\/console\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
    expect(await w.store.get("anything")).toBeNull();
  });

  test("callback: the code exchanged with the verifier; a Strict HttpOnly session cookie; back to the route asked for; tokens sealed in the store", async () => {
    const w = world();
    const { cookie, csrf, callback } = await signIn(w, "admin", "#/people");
    expect(callback.status).toBe(303);
    expect(callback.headers.get("location")).toBe("/_gateway/console/#/people");
    expect(cookiesOf(callback).find((c) => c.startsWith("ara_console="))).toMatch(/; Path=\/_gateway\/console\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(cookiesOf(callback).find((c) => c.startsWith("ara_console_login="))).toContain("Max-Age=0");
    const exchange = w.tokenCalls[0] as URLSearchParams;
    expect(exchange.get("grant_type")).toBe("authorization_code");
    expect(exchange.get("code_verifier")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // the store holds ciphertext under a hash of the id: no token, no id
    const dump = JSON.stringify([...(w.store as unknown as { entries: Map<string, { value: string }> }).entries]);
    expect(dump).not.toContain("at:admin");
    expect(dump).not.toContain("rt:admin");
    expect(dump).not.toContain(cookie.split("=")[1] as string);
  });

  test("callback refused: no pending sign-in in this browser, a state that does not match, a return address that is not a console route", async () => {
    const w = world();
    const none = await must(w.handle(req("/_gateway/console/callback?code=code-admin&state=x")));
    expect(none.status).toBe(400);
    expect(await none.text()).toContain("not started in this browser");
    const login = await must(w.handle(req(`/_gateway/console/login?return=${encodeURIComponent("https://evil.example/")}`)));
    const loginCookie = `ara_console_login=${cookieValue(login, "ara_console_login")}`;
    const wrong = await must(w.handle(req("/_gateway/console/callback?code=code-admin&state=forged", { cookie: loginCookie })));
    expect(wrong.status).toBe(400);
    expect(w.tokenCalls).toHaveLength(0);
    const state = new URL(String(login.headers.get("location"))).searchParams.get("state");
    const ok = await must(w.handle(req(`/_gateway/console/callback?code=code-admin&state=${state}`, { cookie: loginCookie })));
    expect(ok.headers.get("location")).toBe("/_gateway/console/");
  });

  test("off loopback: Secure __Host- cookies (Path=/) and HSTS", async () => {
    const w = world({ redirectUri: "https://acme.proxy.example.com/_gateway/console/callback" });
    const login = await must(w.handle(req("/_gateway/console/login")));
    expect(cookiesOf(login)[0]).toMatch(/^__Host-ara_console_login=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600; Secure$/);
    expect(login.headers.get("strict-transport-security")).toBe("max-age=31536000");
  });
});

describe("the API", () => {
  test("no cookie, a made-up cookie, an ended session: 401 naming the sign-in; nothing of the data", async () => {
    const w = world();
    for (const cookie of [undefined, "ara_console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ara_console=short"]) {
      const r = await must(w.handle(req("/_gateway/console/api/overview", { ...(cookie ? { cookie } : {}) })));
      expect(r.status).toBe(401);
      expect(((await r.json()) as ConsoleErrorBody).login).toBe("/_gateway/console/login");
    }
  });

  test("an admin reads; someone else gets 403 forbidden naming the groups (and a CSRF token to sign out with)", async () => {
    const w = world();
    const admin = await signIn(w, "admin");
    const ok = await must(w.handle(req("/_gateway/console/api/overview", { cookie: admin.cookie })));
    expect(await ok.json()).toEqual({ marker: "overview" });
    const demo = await signIn(w, "demo");
    const session = await must(w.handle(req("/_gateway/console/api/session", { cookie: demo.cookie })));
    expect(session.status).toBe(403);
    const body = (await session.json()) as ConsoleErrorBody;
    expect(body.error.type).toBe("forbidden");
    expect(body.needed_groups).toEqual(["admins"]);
    expect(body.user?.username).toBe("demo");
    expect(demo.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const data = await must(w.handle(req("/_gateway/console/api/people", { cookie: demo.cookie })));
    expect(data.status).toBe(403);
    expect(JSON.stringify(await data.json())).not.toContain("HYPERLINK");
  });

  test("a change needs the CSRF token, the console's origin and a same-origin fetch", async () => {
    const w = world();
    const { cookie, csrf } = await signIn(w, "admin");
    const put = (headers: Record<string, string>) => must(w.handle(req("/_gateway/console/api/budgets", { method: "PUT", cookie, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ kind: "user", id: "demo", period: "month", unit: "usd", amount: 12.5 }) })));
    expect((await put({})).status).toBe(403);
    expect(((await (await put({ [CSRF_HEADER]: "wrong" })).json()) as ConsoleErrorBody).error.type).toBe("bad_csrf");
    expect((await put({ [CSRF_HEADER]: csrf, origin: "https://evil.example" })).status).toBe(403);
    expect((await put({ [CSRF_HEADER]: csrf, "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect(w.changes).toEqual([]);
    const ok = await put({ [CSRF_HEADER]: csrf, origin: ORIGIN, "sec-fetch-site": "same-origin" });
    expect(ok.status).toBe(200);
    expect(w.changes).toEqual(["budget 12.5 by admin"]);
  });

  test("bad input is 400 naming the field; a body that is not JSON, or too large, too", async () => {
    const w = world();
    const { cookie, csrf } = await signIn(w, "admin");
    const bad = await must(w.handle(req("/_gateway/console/api/people?from=2020-01-01&to=2026-11-29", { cookie })));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ConsoleErrorBody).error.message).toContain("at most 400 days");
    const put = (body: string, type = "application/json") => must(w.handle(req("/_gateway/console/api/budgets", { method: "PUT", cookie, headers: { "content-type": type, [CSRF_HEADER]: csrf }, body })));
    expect((await put("{")).status).toBe(400);
    expect((await put("x".repeat(20_000))).status).toBe(400);
    expect((await put("{}", "text/plain")).status).toBe(400);
    expect(((await (await put(JSON.stringify({ kind: "user", id: "demo", period: "week", unit: "usd", amount: 1 }))).json()) as ConsoleErrorBody).error.message).toBe("period is day or month");
  });

  test("CSV of the table: an attachment, formula-looking text made inert", async () => {
    const w = world();
    const { cookie } = await signIn(w, "admin");
    const csv = await must(w.handle(req("/_gateway/console/api/people?format=csv", { cookie })));
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(csv.headers.get("content-disposition")).toBe('attachment; filename="people-2026-11-01-2026-11-29.csv"');
    const text = await csv.text();
    expect(text.split("\r\n")[0]).toBe("person,username,email,sub,groups,requests,input_tokens,output_tokens,cache_write_5m_tokens,cache_write_1h_tokens,cache_read_tokens,cost_usd,unpriced_requests,budget_burn");
    expect(text.split("\r\n")[1]).toBe("'=HYPERLINK(evil),x,,s1,g,0,0,0,0,0,0,1.5,0,");
  });

  test("silent refresh: an access token about to expire is refreshed once, and the new one is used", async () => {
    const w = world({ tokenTtl: 120 });
    const { cookie } = await signIn(w, "admin");
    w.now.t += 90_000; // 30 s left: inside the refresh margin
    const [a, b] = await Promise.all([w.handle(req("/_gateway/console/api/overview", { cookie })), w.handle(req("/_gateway/console/api/overview", { cookie }))]);
    expect([a?.status, b?.status]).toEqual([200, 200]);
    expect(w.tokenCalls.filter((c) => c.get("grant_type") === "refresh_token")).toHaveLength(1);
  });

  test("a refused refresh, a revoked person, an idle session: 401 and the session is gone", async () => {
    const refused = world({ tokenTtl: 120, refuseRefresh: true });
    const one = await signIn(refused, "admin");
    refused.now.t += 90_000;
    expect((await must(refused.handle(req("/_gateway/console/api/overview", { cookie: one.cookie })))).status).toBe(401);

    const w = world();
    const two = await signIn(w, "admin");
    w.revoked.add("admin");
    const r = await must(w.handle(req("/_gateway/console/api/overview", { cookie: two.cookie })));
    expect(r.status).toBe(401);
    expect(((await r.json()) as ConsoleErrorBody).error.message).toContain("withdrew your access");
    w.revoked.clear();
    expect((await must(w.handle(req("/_gateway/console/api/overview", { cookie: two.cookie })))).status).toBe(401);

    const three = await signIn(w, "admin");
    w.now.t += SESSION_IDLE_MS + 1;
    expect((await must(w.handle(req("/_gateway/console/api/overview", { cookie: three.cookie })))).status).toBe(401);
  });

  test("sign-out: session deleted, refresh token revoked at the IdP, cookie cleared, on to Cognito's /logout", async () => {
    const w = world();
    const { cookie, csrf } = await signIn(w, "admin");
    const out = await must(w.handle(req("/_gateway/console/api/logout", { method: "POST", cookie, headers: { [CSRF_HEADER]: csrf } })));
    expect(out.status).toBe(200);
    const next = new URL(((await out.json()) as { next: string }).next);
    expect(next.origin + next.pathname).toBe(`${ISSUER}/logout`);
    expect(next.searchParams.get("logout_uri")).toBe(`${ORIGIN}/_gateway/console/?signed_out=1`);
    expect(cookiesOf(out)[0]).toContain("Max-Age=0");
    expect(w.tokenCalls.at(-1)?.get("token")).toBe("rt:admin");
    expect((await must(w.handle(req("/_gateway/console/api/overview", { cookie })))).status).toBe(401);
  });

  test("unknown endpoints and methods", async () => {
    const w = world();
    const { cookie } = await signIn(w, "admin");
    expect((await must(w.handle(req("/_gateway/console/api/nope", { cookie })))).status).toBe(404);
    expect((await must(w.handle(req("/_gateway/console/api/overview", { method: "PATCH", cookie, headers: { [CSRF_HEADER]: "x" } })))).status).toBe(403);
  });
});
