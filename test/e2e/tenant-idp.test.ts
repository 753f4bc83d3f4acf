/**
 * The local tenant's IdP behaves like a Cognito pool where the CLI will meet it (issue 11 §3):
 * a federated corporate IdP behind identity_provider / idp_identifier, login_hint, an
 * "email as username" user, a hosted-login session that survives token revocation, Cognito's
 * /logout with registered logout URIs, and prompt=login. Driven over HTTP with a cookie jar and
 * with a real Chromium keeping its own cookies.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createInterface, type Interface } from "node:readline";
import { join } from "node:path";
import { ROOT, startTenant, type TenantProcess } from "../support/tenant.ts";
import { authorizeUrl, CookieJarBrowser, exchangeCode, refreshWorks, revoke, usernameValue } from "../support/idp-session-client.ts";
import { discoveryUrlFor, parseTenantDiscovery } from "../../src/shared/tenant-discovery.ts";
import { EMAIL_SIGN_IN_USER, EXAMPLE_CORP } from "../../src/tenant/idp.ts";

let tenant: TenantProcess;
const alice = EXAMPLE_CORP.users[0]!;
const POOL_ID = "local_AgentRunner";

beforeAll(async () => {
  tenant = await startTenant();
});
afterAll(async () => {
  await tenant?.stop();
});

const callbackUri = () => `http://localhost:${tenant.redirectPorts[0]}/callback`;
const logoutUri = () => `http://localhost:${tenant.redirectPorts[0]}/logged-out`;
const authorize = (extra: Record<string, string> = {}) => authorizeUrl(tenant.issuer, tenant.client_id, callbackUri(), extra);
const logoutUrl = (query: Record<string, string>) => `${tenant.issuer}/logout?${new URLSearchParams(query)}`;
const demo = () => tenant.users.find((u) => u.username === "demo")!;

/** Signs in on the hosted page with a fresh cookie jar; returns the jar and the tokens. */
async function signIn(extra: Record<string, string> = {}, login = demo().username, password = demo().password) {
  const browser = new CookieJarBrowser();
  const auth = authorize(extra);
  const page = await browser.get(auth.url);
  const landed = await browser.submit(page, { username: login, password });
  expect(landed.url.pathname).toBe("/callback");
  return { browser, tokens: await exchangeCode(tenant.issuer, tenant.client_id, auth, landed.url) };
}

describe("federated corporate IdP", () => {
  test("identity_provider=ExampleCorp goes to the corporate page and yields a Cognito federated user", async () => {
    const browser = new CookieJarBrowser();
    const auth = authorize({ identity_provider: "ExampleCorp" });
    const corp = await browser.get(auth.url);
    expect(corp.url.pathname).toBe("/federated-idp/ExampleCorp/sso");
    expect(corp.html).toContain("ExampleCorp single sign-on");
    const wrong = await browser.submit(corp, { username: alice.userId, password: "nope" });
    expect(wrong.html).toContain("wrong email or password");
    const landed = await browser.submit(wrong, { username: alice.userId, password: alice.password });
    expect(landed.url.pathname).toBe("/callback");
    const { access, id } = await exchangeCode(tenant.issuer, tenant.client_id, auth, landed.url);
    expect(access.username).toBe("ExampleCorp_alice@example.com");
    expect(id["cognito:username"]).toBe("ExampleCorp_alice@example.com");
    expect(id.email).toBe("alice@example.com");
    expect(id.identities).toEqual([expect.objectContaining({ userId: "alice@example.com", providerName: "ExampleCorp", providerType: "SAML", primary: "true" })]);
    expect(access["cognito:groups"]).toEqual(["developers", `${POOL_ID}_ExampleCorp`]);
    expect(access.sub).toBe(id.sub);
  });

  test("idp_identifier=example.com picks the same IdP; login_hint pre-fills its user name", async () => {
    const corp = await new CookieJarBrowser().get(authorize({ idp_identifier: "example.com", login_hint: "alice@example.com" }).url);
    expect(corp.url.pathname).toBe("/federated-idp/ExampleCorp/sso");
    expect(usernameValue(corp.html)).toBe("alice@example.com");
  });

  test("the hosted page offers the IdP as a button, and an unknown identity_provider is refused", async () => {
    const browser = new CookieJarBrowser();
    const page = await browser.get(authorize().url);
    const button = /<a class="idp" id="idp-ExampleCorp" href="([^"]+)"/.exec(page.html)?.[1];
    expect(button).toBeDefined();
    const corp = await browser.get(new URL(button!.replaceAll("&amp;", "&"), page.url).href);
    expect(corp.url.pathname).toBe("/federated-idp/ExampleCorp/sso");
    const unknown = await new CookieJarBrowser().get(authorize({ identity_provider: "Nobody" }).url);
    expect(unknown.status).toBe(400);
    expect(unknown.html).toContain("Login option is not available");
    const unknownDomain = await new CookieJarBrowser().get(authorize({ idp_identifier: "elsewhere.example" }).url);
    expect(unknownDomain.status).toBe(400);
  });

  test("identity_provider=COGNITO shows the pool's own page", async () => {
    const page = await new CookieJarBrowser().get(authorize({ identity_provider: "COGNITO" }).url);
    expect(page.url.pathname).toMatch(new RegExp(`^/${POOL_ID}/login/`));
    expect(page.html).toContain('id="signin"');
  });

  test("a corporate IdP's answer is used once, and only for its own sign-in", async () => {
    // Capture the corporate redirect without following it, then replay it.
    const browser = new CookieJarBrowser();
    const corp = await browser.get(authorize({ identity_provider: "ExampleCorp" }).url);
    const form = /<form[^>]*action="([^"]+)"/.exec(corp.html)![1]!.replaceAll("&amp;", "&");
    const posted = await fetch(new URL(form, corp.url), { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ username: alice.userId, password: alice.password }).toString() });
    const response = new URL(posted.headers.get("location")!, corp.url);
    expect(response.pathname).toMatch(/\/idpresponse$/);
    const first = await browser.get(response.href);
    expect(first.url.pathname).toBe("/callback");
    const other = new CookieJarBrowser();
    const otherPage = await other.get(authorize().url);
    const replay = await other.get(new URL(`${otherPage.url.pathname}/idpresponse?${response.searchParams}`, otherPage.url).href);
    expect(replay.status).toBe(400);
    expect(replay.html).toContain("invalid or was already used");
  });
});

describe("hosted login", () => {
  test("login_hint pre-fills the user name on the pool's page", async () => {
    const page = await new CookieJarBrowser().get(authorize({ login_hint: "demo" }).url);
    expect(usernameValue(page.html)).toBe("demo");
  });

  test("an email-as-username user signs in with the email and gets a UUID username", async () => {
    const { tokens } = await signIn({}, EMAIL_SIGN_IN_USER.email!, EMAIL_SIGN_IN_USER.password);
    expect(tokens.access.username).toBe(EMAIL_SIGN_IN_USER.username);
    expect(tokens.access.username).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(tokens.access.sub).toBe(EMAIL_SIGN_IN_USER.username);
    expect(tokens.id.email).toBe("erin@example.com");
    expect(tokens.id["cognito:username"]).toBe(EMAIL_SIGN_IN_USER.username);
  });

  test("the session survives revocation of the refresh token: the next authorize signs in silently", async () => {
    const { browser, tokens } = await signIn();
    expect(await revoke(tenant.issuer, tenant.client_id, tokens.refreshToken)).toBe(200);
    expect(await refreshWorks(tenant.issuer, tenant.client_id, tokens.refreshToken)).toBe(false);
    const auth = authorize();
    const silent = await browser.get(auth.url);
    expect(silent.url.pathname).toBe("/callback");
    expect((await exchangeCode(tenant.issuer, tenant.client_id, auth, silent.url)).access.username).toBe("demo");
  });

  test("prompt=login over a live session lets a DIFFERENT person sign in, as Cognito does", async () => {
    const { browser } = await signIn();
    const auth = authorize({ prompt: "login" });
    const page = await browser.get(auth.url);
    expect(page.html).toContain('id="signin"');
    const landed = await browser.submit(page, { username: EMAIL_SIGN_IN_USER.email!, password: EMAIL_SIGN_IN_USER.password });
    expect(landed.html).not.toContain("session not found");
    expect(landed.url.pathname).toBe("/callback");
    expect((await exchangeCode(tenant.issuer, tenant.client_id, auth, landed.url)).access.username).toBe(EMAIL_SIGN_IN_USER.username);
    // the session now belongs to the new person: a silent authorize signs erin in, not demo
    const next = authorize();
    const silent = await browser.get(next.url);
    expect(silent.url.pathname).toBe("/callback");
    expect((await exchangeCode(tenant.issuer, tenant.client_id, next, silent.url)).access.username).toBe(EMAIL_SIGN_IN_USER.username);
  });

  test("prompt=login shows the form despite a live session", async () => {
    const { browser } = await signIn();
    const page = await browser.get(authorize({ prompt: "login" }).url);
    expect(page.url.pathname).toMatch(new RegExp(`^/${POOL_ID}/login/`));
    expect(page.html).toContain('id="signin"');
  });

  test("/logout with a registered logout_uri ends the session and redirects there", async () => {
    const { browser } = await signIn();
    const before = (await tenant.stats()).logouts;
    const out = await browser.get(logoutUrl({ client_id: tenant.client_id, logout_uri: logoutUri() }));
    expect(out.url.href).toBe(logoutUri());
    expect((await tenant.stats()).logouts).toBe(before + 1);
    const page = await browser.get(authorize().url);
    expect(page.html).toContain('id="signin"');
  });

  test("/logout with redirect_uri and response_type ends the session and shows the sign-in page", async () => {
    const { browser } = await signIn();
    const auth = authorize();
    const page = await browser.get(`${tenant.issuer}/logout?${new URL(auth.url).searchParams}`);
    expect(page.url.pathname).toMatch(new RegExp(`^/${POOL_ID}/login/`));
    const again = await browser.get(authorize().url);
    expect(again.html).toContain('id="signin"');
  });

  test("an unregistered logout_uri, a missing or unknown client_id are refused and the session lives on", async () => {
    const { browser } = await signIn();
    for (const [query, error] of [
      [{ client_id: tenant.client_id, logout_uri: "http://localhost:1/elsewhere" }, "redirect_mismatch"],
      [{ client_id: tenant.client_id, logout_uri: "https://evil.example/logged-out" }, "redirect_mismatch"],
      [{ client_id: tenant.client_id, logout_uri: `${logoutUri()}/` }, "redirect_mismatch"],
      [{ logout_uri: logoutUri() }, "invalid_request"],
      [{ client_id: "someone-else", logout_uri: logoutUri() }, "invalid_client"],
      [{ client_id: tenant.client_id }, "invalid_request"],
    ] as const) {
      const refused = await browser.get(logoutUrl(query));
      expect(refused.status).toBe(400);
      expect(refused.html).toContain(error);
    }
    const silent = await browser.get(authorize().url);
    expect(silent.url.pathname).toBe("/callback");
  });

  test("discovery announces the logout endpoint at the pool, and the tenant document the loopback logout URIs", async () => {
    const doc = (await (await fetch(`${tenant.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(doc.end_session_endpoint).toBe(`${tenant.issuer}/logout`);
    const client = await tenantClient(tenant);
    expect(client.logout_uris).toEqual(tenant.redirectPorts.map((p) => `http://localhost:${p}/logged-out`));
    expect(client.identity_provider).toBeUndefined();
  });

  test("--identity-provider and --idp-identifier are announced as sign-in defaults", async () => {
    const federated = await startTenant(["--identity-provider", "ExampleCorp", "--idp-identifier", "example.com"]);
    try {
      expect(await tenantClient(federated)).toMatchObject({ identity_provider: "ExampleCorp", idp_identifier: "example.com" });
    } finally {
      await federated.stop();
    }
  });
});

describe("userInfo, as Cognito answers it", () => {
  /** Signs in on the hosted page and returns the raw tokens (the shared helper decodes them). */
  async function rawTokens(login: string, password: string) {
    const browser = new CookieJarBrowser();
    const auth = authorize();
    const landed = await browser.submit(await browser.get(auth.url), { username: login, password });
    const response = await fetch(`${tenant.issuer}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", client_id: tenant.client_id, code: landed.url.searchParams.get("code")!, redirect_uri: auth.redirectUri, code_verifier: auth.verifier }).toString(),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { access_token: string; id_token: string; refresh_token: string };
  }
  const userInfo = (token: string) => fetch(`${tenant.issuer}/oauth2/userInfo`, { headers: { authorization: `Bearer ${token}` } });

  test("accepts the pool's access token and answers sub, username, email, email_verified", async () => {
    const tokens = await rawTokens(EMAIL_SIGN_IN_USER.email!, EMAIL_SIGN_IN_USER.password);
    const response = await userInfo(tokens.access_token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: EMAIL_SIGN_IN_USER.username, username: EMAIL_SIGN_IN_USER.username, email: "erin@example.com", email_verified: "true" });
  });

  test("refuses a tampered token, an ID token and a token from a revoked sign-in with 401 invalid_token", async () => {
    const tokens = await rawTokens(demo().username, demo().password);
    const [h, p, sig] = tokens.access_token.split(".");
    const tampered = [h, p, sig!.slice(0, -4) + (sig!.endsWith("AAAA") ? "BBBB" : "AAAA")].join(".");
    for (const bad of [tampered, tokens.id_token, "not-a-jwt"]) {
      const response = await userInfo(bad);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_token");
    }
    expect((await userInfo(tokens.access_token)).status).toBe(200);
    expect(await revoke(tenant.issuer, tenant.client_id, tokens.refresh_token)).toBe(200);
    expect((await userInfo(tokens.access_token)).status).toBe(401);
  });
});

/** The tenant discovery document's client section, parsed the way the CLI parses it. */
async function tenantClient(t: TenantProcess) {
  const response = await fetch(discoveryUrlFor(t.tenant));
  return parseTenantDiscovery(await response.json(), t.tenant).agent_runner_auth;
}

describe("real Chromium, one browser session", () => {
  let listener: Server;
  let chromium: ChildProcessWithoutNullStreams;
  let lines: Interface;
  const replies: string[] = [];
  const waiting: ((line: string) => void)[] = [];

  beforeAll(async () => {
    // The CLI's loopback listener, as far as the browser can tell: the callback and logged-out pages.
    listener = createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><title>${req.url?.startsWith("/logged-out") ? "Signed out" : "Signed in"}</title><h1 id="result">ok</h1>`);
    });
    await new Promise<void>((resolve) => listener.listen(tenant.redirectPorts[0], "localhost", resolve));
    chromium = spawn("node", [join(ROOT, "test", "support", "chromium-idp-session.mjs")], { stdio: ["pipe", "pipe", "pipe"] });
    lines = createInterface({ input: chromium.stdout });
    lines.on("line", (line) => (waiting.shift() ?? ((l: string) => replies.push(l)))(line));
  });
  afterAll(async () => {
    if (chromium && chromium.exitCode === null) {
      const exited = new Promise((resolve) => chromium.once("exit", resolve));
      chromium.stdin.end(JSON.stringify({ op: "close" }) + "\n");
      const killer = setTimeout(() => chromium.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
    }
    listener?.close();
  });

  async function step(command: Record<string, string>): Promise<{ url: string; title: string; form: boolean; username: string | null; error?: string }> {
    const reply = new Promise<string>((resolve) => waiting.push(resolve));
    chromium.stdin.write(JSON.stringify(command) + "\n");
    const state = JSON.parse(await reply);
    if (state.error) throw new Error(state.error);
    return state;
  }

  test("federated sign-in, silent sign-in after revocation, prompt=login, logout, sign-in page again", async () => {
    // 1. Straight to the corporate IdP, user name pre-filled from login_hint.
    const first = authorize({ identity_provider: "ExampleCorp", login_hint: alice.userId });
    const corp = await step({ op: "goto", url: first.url });
    expect(new URL(corp.url).pathname).toBe("/federated-idp/ExampleCorp/sso");
    expect(corp.title).toBe("ExampleCorp");
    expect(corp.username).toBe(alice.userId);
    const back = await step({ op: "signin", password: alice.password });
    expect(back.title).toBe("Signed in");
    const tokens = await exchangeCode(tenant.issuer, tenant.client_id, first, new URL(back.url));
    expect(tokens.access.username).toBe("ExampleCorp_alice@example.com");
    expect(tokens.id.identities).toEqual([expect.objectContaining({ providerName: "ExampleCorp" })]);

    // 2. Revoking the refresh token does not end the hosted-login session.
    expect(await revoke(tenant.issuer, tenant.client_id, tokens.refreshToken)).toBe(200);
    const second = authorize();
    const silent = await step({ op: "goto", url: second.url });
    expect(silent.title).toBe("Signed in");
    expect(silent.form).toBe(false);
    expect((await exchangeCode(tenant.issuer, tenant.client_id, second, new URL(silent.url))).access.username).toBe("ExampleCorp_alice@example.com");

    // 3. prompt=login shows the form even so.
    const forced = await step({ op: "goto", url: authorize({ prompt: "login" }).url });
    expect(forced.form).toBe(true);
    expect(forced.title).toBe("Sign in");

    // 4. /logout with the registered loopback logout URI ends the session.
    const out = await step({ op: "goto", url: logoutUrl({ client_id: tenant.client_id, logout_uri: logoutUri() }) });
    expect(out.url).toBe(logoutUri());
    expect(out.title).toBe("Signed out");

    // 5. The next sign-in shows the page (and a pool user can sign in on it).
    const third = authorize();
    const page = await step({ op: "goto", url: third.url });
    expect(page.form).toBe(true);
    const demoIn = await step({ op: "signin", username: demo().username, password: demo().password });
    expect(demoIn.title).toBe("Signed in");
    expect((await exchangeCode(tenant.issuer, tenant.client_id, third, new URL(demoIn.url))).access.username).toBe("demo");
  }, 60_000);
});
