import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyOptionsError, readProxyOptions } from "./options.ts";

const dir = mkdtempSync(join(tmpdir(), "ara-proxy-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};
/** A valid single tenant from the environment alone. */
const TENANT = { AGENT_RUNNER_PROXY_ISSUER: "https://idp.example.com/pool/", AGENT_RUNNER_PROXY_CLIENT_IDS: "cli, other", AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV: "UPSTREAM_KEY", UPSTREAM_KEY: "sk-test-key" };
const read = (args: string[], env: NodeJS.ProcessEnv = {}) => readProxyOptions(args, { ...TENANT, ...env });
const refusal = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  try {
    read(args, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ProxyOptionsError);
    return (e as Error).message;
  }
  throw new Error(`accepted: ${args.join(" ")}`);
};

describe("readProxyOptions", () => {
  test("defaults: one tenant from the environment, 0.0.0.0:8080, metrics on 127.0.0.1:9464, no state given, fail-closed, userInfo on", () => {
    const o = read([]);
    expect(o.config.single).toMatchObject({ slug: "default", issuer: "https://idp.example.com/pool", clientIds: ["cli", "other"] });
    expect(o.config.single?.pool.upstreams).toEqual([{ name: "anthropic", type: "anthropic", url: "https://api.anthropic.com", key: { kind: "env", name: "UPSTREAM_KEY" }, weight: 1 }]);
    expect(o).toMatchObject({ host: "0.0.0.0", port: 8080, metrics: { host: "127.0.0.1", port: 9464 }, state: undefined, stateFailure: "closed", reusePort: false, userInfo: true });
    expect(o.config.shutdownGraceMs).toBe(30_000);
  });

  test("flags win over variables, which win over the configuration file", () => {
    const config = file("tenants.json", JSON.stringify({ tenants: { acme: { issuer: "https://i", clientIds: ["c"], upstreamApiKey: "k" } }, maxBodyBytes: 1000, idleTimeoutSeconds: 30, shutdownGraceSeconds: 9 }));
    expect(read(["--config", config]).config).toMatchObject({ maxBodyBytes: 1000, idleTimeoutSeconds: 30, shutdownGraceMs: 9000 });
    const env = { AGENT_RUNNER_PROXY_CONFIG: config, AGENT_RUNNER_PROXY_MAX_BODY_BYTES: "2000", AGENT_RUNNER_PROXY_IDLE_TIMEOUT: "40", PORT: "9000", AGENT_RUNNER_PROXY_STATE: "redis://r:6379/1" };
    expect(read([], env)).toMatchObject({ port: 9000, state: "redis://r:6379/1", config: { maxBodyBytes: 2000, idleTimeoutSeconds: 40 } });
    expect(read(["--max-body-bytes", "3000", "--idle-timeout=50", "--port", "0", "--state", "sqlite:/tmp/x.db", "--shutdown-grace", "2"], env)).toMatchObject({ port: 0, state: "sqlite:/tmp/x.db", config: { maxBodyBytes: 3000, idleTimeoutSeconds: 50, shutdownGraceMs: 2000 } });
    expect(read([], { AGENT_RUNNER_PROXY_TRUST_FORWARDED_HEADERS: "yes" }).config.trustForwardedHeaders).toBe(true);
    expect(read(["--trust-forwarded-headers"]).config.trustForwardedHeaders).toBe(true);
  });

  test("the policy: --policy or AGENT_RUNNER_PROXY_POLICY, or a tenant's `policy` (relative to the config file, or inline); an invalid first one is refused with the member named", () => {
    const good = file("policy.yaml", 'groups:\n  eng:\n    models: ["claude-*"]\n');
    expect(read(["--policy", good]).config.single?.policy).toEqual({ path: good });
    expect(read([], { AGENT_RUNNER_PROXY_POLICY: good }).config.single?.policy).toEqual({ path: good });
    expect(read([]).config.single?.policy).toBeUndefined();
    const bad = file("bad.yaml", "groups:\n  eng:\n    budgets:\n      - { period: week, usd: 5 }\n");
    expect(refusal(["--policy", bad])).toBe(`tenant default: policy ${bad}:4: groups.eng.budgets[0].period: must be "day" or "month"`);
    expect(refusal(["--policy", join(dir, "missing.yaml")])).toContain("missing.yaml: (policy): does not exist");
    const config = file("with-policy.json", JSON.stringify({ tenants: { acme: { issuer: "https://i", clientIds: ["c"], upstreamApiKey: "k", policy: "policy.yaml" }, beta: { issuer: "https://i", clientIds: ["c"], upstreamApiKey: "k", policy: { default: { models: [] } } } } }));
    const tenants = read(["--config", config]).config.tenants;
    expect(tenants.get("acme")?.policy).toEqual({ path: good });
    expect(tenants.get("beta")?.policy).toEqual({ inline: { default: { models: [] } }, where: "tenants.beta.policy" });
    const badInline = file("bad-inline.json", JSON.stringify({ tenants: { acme: { issuer: "https://i", clientIds: ["c"], upstreamApiKey: "k", policy: { groups: { eng: { models: "claude-*" } } } } } }));
    expect(refusal(["--config", badInline])).toContain("tenant acme: policy tenants.acme.policy: groups.eng.models:");
    expect(refusal(["--config", config, "--policy", good])).toContain("--policy is for the single-tenant flags");
  });

  test("every value is checked, with the flag or variable named (nothing is bound yet)", () => {
    expect(refusal(["--idle-timeout", "0"])).toContain("--idle-timeout must be whole seconds from 1 to 255");
    expect(refusal(["--max-body-bytes", "lots"])).toContain("--max-body-bytes must be a positive whole number");
    expect(refusal(["--port", "http"])).toBe("--port must be a port number");
    expect(refusal(["--metrics-port", "70000"])).toContain("--metrics-port must be a port number");
    expect(refusal(["--state", "postgres://db"])).toContain("--state postgres://db: use sqlite:/path/state.db");
    expect(refusal(["--state", "redis://:secret@r:6379/x"])).not.toContain("secret");
    expect(refusal(["--state-failure", "maybe"])).toContain("--state-failure must be open or closed");
    expect(refusal(["--shutdown-grace", "soon"])).toContain("--shutdown-grace must be a number of seconds");
    expect(refusal([], { AGENT_RUNNER_PROXY_TRUST_FORWARDED_HEADERS: "perhaps" })).toContain("AGENT_RUNNER_PROXY_TRUST_FORWARDED_HEADERS must be true or false");
    expect(refusal(["--admin-key-file", file("short-key", "abc")])).toContain("must be at least 32 characters");
    expect(refusal(["--admin-key-file", join(dir, "missing")])).toContain("cannot read the admin key file");
    expect(refusal(["--frobnicate"])).toContain("--frobnicate");
    expect(refusal([], { AGENT_RUNNER_PROXY_ISSUER: "" })).toContain("issuer");
    expect(refusal(["--config", join(dir, "nope.json")])).toContain("cannot read the proxy configuration");
  });

  test("--upstreams FILE (or its variable): the single tenant's pool, never beside --upstream or its key, nor with --config", () => {
    const pool = { upstreams: [{ name: "a", type: "anthropic", url: "http://127.0.0.1:1", apiKeyFile: file("a-key", "sk-ant-a\n") }, { name: "br", type: "bedrock", region: "us-east-1" }], routing: { maxAttempts: 2 } };
    const path = file("upstreams.json", JSON.stringify(pool));
    const noKey = { AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV: undefined };
    const o = read(["--upstreams", path], noKey);
    expect(o.config.single?.pool.upstreams.map((u) => u.name)).toEqual(["a", "br"]);
    expect(o.config.single?.pool.routing.maxAttempts).toBe(2);
    expect(read([], { ...noKey, AGENT_RUNNER_PROXY_UPSTREAMS: path }).config.single?.pool.upstreams).toHaveLength(2);
    expect(refusal(["--upstreams", path])).toContain("--upstreams names the whole pool: drop --upstream-key-env");
    expect(refusal(["--upstreams", path, "--config", path], noKey)).toContain("--upstreams (AGENT_RUNNER_PROXY_UPSTREAMS) is for the single-tenant flags");
    expect(refusal(["--upstreams", file("bad.json", JSON.stringify({ upstreams: [{ name: "a", type: "anthropic", apiKeyfile: "/k" }] }))], noKey)).toContain('unknown field "apiKeyfile"');
    expect(refusal(["--upstreams", join(dir, "none.json")], noKey)).toContain("cannot read the upstreams file");
  });

  test("key files and variables are checked before anything listens, naming the upstream", () => {
    const noKey = { AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV: undefined };
    expect(refusal(["--upstream-key-file", join(dir, "missing-key")], noKey)).toContain("tenant default, upstream anthropic: cannot read the upstream key file");
    expect(refusal(["--upstream-key-file", file("empty-key", "\n")], noKey)).toContain("is empty or holds more than the key");
    expect(refusal([], { UPSTREAM_KEY: "" })).toContain("the environment variable UPSTREAM_KEY (its API key) is not set");
    expect(read(["--upstream-key-file", file("good-key", "sk-ant-good\n")], noKey).config.single?.pool.upstreams[0]).toMatchObject({ key: { kind: "file" } });
  });

  test("the admin key is read from its file; userInfo turned off by flag or variable; groups from either", () => {
    const key = "k".repeat(40);
    expect(read(["--admin-key-file", file("admin-key", `${key}\n`)]).adminKey).toBe(key);
    expect(read(["--no-userinfo"]).userInfo).toBe(false);
    expect(read([], { AGENT_RUNNER_PROXY_USERINFO: "off" }).userInfo).toBe(false);
    expect(read([], { AGENT_RUNNER_PROXY_ADMIN_GROUPS: "ops, admins" }).adminGroups).toEqual(["ops", "admins"]);
    expect(read(["--admin-group", "a", "--admin-group", "b"]).adminGroups).toEqual(["a", "b"]);
  });

  test("--revalidate-seconds (or its variable) for every tenant without its own; 0 turns it off; a bad value names the flag", () => {
    expect(read([]).config.single?.revalidateSeconds).toBeUndefined();
    expect(read(["--revalidate-seconds", "5"]).config.single?.revalidateSeconds).toBe(5);
    expect(read([], { AGENT_RUNNER_PROXY_REVALIDATE_SECONDS: "0" }).config.single?.revalidateSeconds).toBe(0);
    expect(refusal(["--revalidate-seconds=-1"])).toContain("--revalidate-seconds must be whole seconds");
    expect(refusal(["--revalidate-seconds", "1.5"])).toContain("--revalidate-seconds");
    const config = file("tenants-revalidate.json", JSON.stringify({ tenants: { a: { issuer: "https://idp.example.com/a", clientIds: ["c"], upstreamApiKey: "k", revalidateSeconds: 30 }, b: { issuer: "https://idp.example.com/b", clientIds: ["c"], upstreamApiKey: "k" } } }));
    const tenants = read(["--config", config, "--revalidate-seconds", "10"]).config.tenants;
    expect([tenants.get("a")?.revalidateSeconds, tenants.get("b")?.revalidateSeconds]).toEqual([30, 10]);
  });

  test("--alerts-webhook with --alerts-secret-file: the secret read from its file; without the secret (json) or with --config: refused", () => {
    const secretFile = file("alerts-secret", "0123456789abcdef0123456789abcdef\n");
    const alerts = read(["--alerts-webhook", "https://hooks.example.com/x?token=t", "--alerts-secret-file", secretFile]).config.single?.alerts;
    expect(alerts).toMatchObject({ webhook: "https://hooks.example.com/x?token=t", webhookOrigin: "https://hooks.example.com", secret: "0123456789abcdef0123456789abcdef", thresholds: [0.5, 0.8, 1], format: "json" });
    expect(read([], { AGENT_RUNNER_PROXY_ALERTS_WEBHOOK: "http://127.0.0.1:9/h", AGENT_RUNNER_PROXY_ALERTS_SECRET_FILE: secretFile }).config.single?.alerts?.webhook).toBe("http://127.0.0.1:9/h");
    expect(refusal(["--alerts-webhook", "https://hooks.example.com/x"])).toContain("secretFile is required");
    expect(refusal(["--alerts-webhook", "http://hooks.example.com/x", "--alerts-secret-file", secretFile])).toContain("https://");
    const config = file("tenants-alerts.json", JSON.stringify({ tenants: { a: { issuer: "https://idp.example.com/a", clientIds: ["c"], upstreamApiKey: "k" } } }));
    expect(refusal(["--config", config, "--alerts-webhook", "https://hooks.example.com/x", "--alerts-secret-file", secretFile])).toContain("set alerts in each tenant's entry");
  });
});

describe("the admin console's app client", () => {
  const CALLBACK = "/_gateway/console/callback";
  test("single tenant: flags or variables; https on any host (every Host is the tenant's) or http on loopback; a sign-out URL on its origin", () => {
    expect(read(["--console-client-id", "console", "--console-redirect-uri", `https://gw.example.com${CALLBACK}`]).config.single?.console).toEqual({ clientId: "console", redirectUri: `https://gw.example.com${CALLBACK}` });
    const env = { AGENT_RUNNER_PROXY_CONSOLE_CLIENT_ID: "console", AGENT_RUNNER_PROXY_CONSOLE_REDIRECT_URI: `http://127.0.0.1:8080${CALLBACK}`, AGENT_RUNNER_PROXY_CONSOLE_LOGOUT_URI: "http://127.0.0.1:8080/_gateway/console/?signed_out=1" };
    expect(read([], env).config.single?.console).toEqual({ clientId: "console", redirectUri: `http://127.0.0.1:8080${CALLBACK}`, logoutUri: "http://127.0.0.1:8080/_gateway/console/?signed_out=1" });
    expect(read([]).config.single?.console).toBeUndefined();
  });

  test("refused: one flag without the other, http off loopback, another path, a sign-out URL on another origin, the API's own client id", () => {
    expect(refusal(["--console-client-id", "console"])).toContain("needs both --console-client-id and --console-redirect-uri");
    expect(refusal(["--console-client-id", "console", "--console-redirect-uri", `http://gw.example.com${CALLBACK}`])).toContain("must be https on the tenant's host");
    expect(refusal(["--console-client-id", "console", "--console-redirect-uri", "https://gw.example.com/callback"])).toContain(`must end in ${CALLBACK}`);
    expect(refusal(["--console-client-id", "console", "--console-redirect-uri", `https://gw.example.com${CALLBACK}`, "--console-logout-uri", "https://evil.example.com/"])).toContain("on the redirect URI's origin");
    // a console sign-in must not be an API credential
    expect(refusal(["--console-client-id", "cli", "--console-redirect-uri", `https://gw.example.com${CALLBACK}`])).toContain("not one of clientIds");
  });

  test("--config: a tenant's console on its own host (publicUrl's, else <slug>.…); the flags are refused with a file", () => {
    const tenant = (console: unknown, extra: object = {}) => file(`tenants-${Math.random()}.json`, JSON.stringify({ tenants: { acme: { issuer: "https://idp.example.com/p", clientIds: ["cli"], upstreamApiKeyEnv: "UPSTREAM_KEY", console, ...extra } } }));
    expect(read(["--config", tenant({ clientId: "console", redirectUri: `https://acme.proxy.example.com${CALLBACK}` })]).config.tenants.get("acme")?.console?.clientId).toBe("console");
    expect(refusal(["--config", tenant({ clientId: "console", redirectUri: `https://beta.proxy.example.com${CALLBACK}` })])).toContain("acme.<domain>");
    expect(read(["--config", tenant({ clientId: "console", redirectUri: `https://claude.example.com${CALLBACK}` }, { publicUrl: "https://claude.example.com" })]).config.tenants.get("acme")?.console?.redirectUri).toBe(`https://claude.example.com${CALLBACK}`);
    expect(refusal(["--config", tenant({ clientId: "console", redirectUri: `https://acme.proxy.example.com${CALLBACK}` }, { publicUrl: "https://claude.example.com" })])).toContain("(claude.example.com)");
    expect(refusal(["--config", tenant({ clientId: "console", redirectUri: `https://acme.proxy.example.com${CALLBACK}` }), "--console-client-id", "x"])).toContain("are for the single-tenant flags");
  });
});
