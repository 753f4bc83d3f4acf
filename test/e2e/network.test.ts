/**
 * Corporate networks: a TLS identity provider and proxy signed by a private CA, reached through
 * an HTTPS forward proxy (HTTPS_PROXY, NO_PROXY), trusted through NODE_EXTRA_CA_CERTS or
 * SSL_CERT_FILE; an untrusted certificate is a clear message.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { baseEnv, isolatedHome, runCli, scriptedBrowser } from "../support/cli.ts";
import { createTestCa, startForwardProxy, type ForwardProxy, type TestCa } from "../support/network.ts";

let ca: TestCa;
let tenant: TenantProcess;
let proxy: ForwardProxy;
beforeAll(async () => {
  ca = createTestCa();
  tenant = await startTenant(["--tls-cert", ca.certFile, "--tls-key", ca.keyFile, "--access-token-ttl", "2"], { NODE_EXTRA_CA_CERTS: ca.caFile });
  proxy = await startForwardProxy();
});
afterAll(async () => {
  await tenant.stop();
  proxy.stop();
});

function env(extra: Record<string, string>) {
  const user = tenant.users[0]!;
  return baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file", ...scriptedBrowser(user.username, user.password), ...extra });
}

test("login, token and silent refresh over TLS through an HTTPS forward proxy, with a private CA", async () => {
  expect(tenant.tenant).toStartWith("https://localhost:");
  const e = env({ HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: ca.caFile });
  const before = proxy.tunnels();
  const login = await runCli(["login", tenant.tenant], e);
  expect(login.stderr).toContain("Logged in as demo");
  expect(login.code).toBe(0);
  const afterLogin = proxy.tunnels();
  expect(afterLogin).toBeGreaterThan(before);
  await new Promise((r) => setTimeout(r, 2200));
  const refreshed = await runCli(["token", "--min-validity", "0"], e);
  expect(refreshed.code).toBe(0);
  expect(proxy.tunnels()).toBeGreaterThan(afterLogin); // the refresh grant went through the proxy too
  expect((await tenant.stats()).grants.refresh_token).toBeGreaterThanOrEqual(1);
}, 30_000);

test("SSL_CERT_FILE works as well, and NO_PROXY bypasses the proxy", async () => {
  const e = env({ HTTPS_PROXY: proxy.url, NO_PROXY: "localhost", SSL_CERT_FILE: ca.caFile });
  const before = proxy.tunnels();
  const login = await runCli(["login", tenant.tenant], e);
  expect(login.code).toBe(0);
  expect(proxy.tunnels()).toBe(before);
}, 30_000);

test("an untrusted certificate is a clear message naming the fix, exit 3", async () => {
  const out = await runCli(["login", tenant.tenant], env({}));
  expect(out.code).toBe(3);
  expect(out.stderr).toContain("is not trusted");
  expect(out.stderr).toContain("NODE_EXTRA_CA_CERTS");
});

test("a TLS tenant that does not trust its own certificate does not start, and says what to set", async () => {
  const failed = await startTenant(["--tls-cert", ca.certFile, "--tls-key", ca.keyFile], { NODE_EXTRA_CA_CERTS: "", SSL_CERT_FILE: "" }).then(
    async (t) => (await t.stop(), "started"),
    (e: Error) => e.message,
  );
  expect(failed).toContain("tenant exited with 1");
  expect(failed).toContain("does not trust the --tls-cert certificate");
  expect(failed).toContain("NODE_EXTRA_CA_CERTS=<the CA's PEM file>");
  expect(tenant.stderr()).not.toContain("does not trust");
});
