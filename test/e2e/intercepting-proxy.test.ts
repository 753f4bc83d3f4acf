/**
 * Corporate networks that inspect TLS: every request goes through a real intercepting proxy
 * (mitmproxy) that re-signs each site with its own CA. Only --ca-file (or
 * $AGENT_RUNNER_AUTH_CA_FILE, or the bundle remembered at login) makes the CLI trust it: login,
 * token refresh and doctor succeed with it, and fail without it with a message naming the fix.
 * mitmproxy's flow log proves the requests were decrypted by it, not sent around it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, startTenant, type TenantProcess } from "../support/tenant.ts";
import { baseEnv, isolatedHome, runCli } from "../support/cli.ts";
import { createTestCa, startInterceptingProxy, type InterceptingProxy, type TestCa } from "../support/network.ts";

let ca: TestCa;
let tenant: TenantProcess;
let mitm: InterceptingProxy;
beforeAll(async () => {
  ca = createTestCa(); // the tenant's own CA: only mitmproxy talks to it (unverified), never the CLI
  tenant = await startTenant(["--tls-cert", ca.certFile, "--tls-key", ca.keyFile, "--access-token-ttl", "2"], { NODE_EXTRA_CA_CERTS: ca.caFile });
  mitm = await startInterceptingProxy();
}, 30_000);
afterAll(async () => {
  await tenant.stop();
  await mitm.stop();
});

/** A home and a browser on the corporate network: the browser trusts the corporate CA (IT installed it), the CLI is told only through its own settings. */
function corporateEnv(extra: Record<string, string> = {}) {
  const user = tenant.users[0]!;
  return baseEnv({
    ...isolatedHome(),
    AGENT_RUNNER_AUTH_STORE: "file",
    HTTPS_PROXY: mitm.url,
    BROWSER: `NODE_EXTRA_CA_CERTS='${mitm.caFile}' ${BUN} ${join(ROOT, "scripts", "scripted-browser.ts")}`,
    AGENT_RUNNER_DEMO_USERNAME: user.username,
    AGENT_RUNNER_DEMO_PASSWORD: user.password,
    ...extra,
  });
}

const tenantFlows = () => mitm.flows().filter((f) => f.includes(new URL(tenant.tenant).host) || f.includes("https://localhost:"));

test("with --ca-file: login, then token's refresh (the bundle remembered in the profile) and doctor, all decrypted by the proxy", async () => {
  const e = corporateEnv();
  const before = tenantFlows().length;
  const login = await runCli(["login", tenant.tenant, "--ca-file", mitm.caFile], e);
  expect(login.stderr).toContain("Logged in as demo");
  expect(login.code).toBe(0);
  const afterLogin = tenantFlows();
  expect(afterLogin.length).toBeGreaterThan(before);
  expect(afterLogin.some((f) => f.startsWith("POST ") && f.includes("/token"))).toBe(true); // the code exchange went through mitmproxy
  const profile = JSON.parse(readFileSync(join(e.XDG_CONFIG_HOME ?? join(e.HOME!, ".config"), "agent-runner-auth", "profiles", "default.json"), "utf8")) as { caFile?: string };
  expect(profile.caFile).toBe(mitm.caFile);

  await new Promise((r) => setTimeout(r, 2200));
  const refreshed = await runCli(["token", "--min-validity", "0"], e); // no --ca-file: the profile's
  expect(refreshed.stderr).not.toContain("not trusted");
  expect(refreshed.code).toBe(0);
  expect(refreshed.stdout.trim().length).toBeGreaterThan(20);
  const afterRefresh = tenantFlows();
  expect(afterRefresh.slice(afterLogin.length).some((f) => f.startsWith("POST ") && f.includes("/token"))).toBe(true);
  expect((await tenant.stats()).grants.refresh_token).toBeGreaterThanOrEqual(1);

  const doctor = await runCli(["doctor", "--ca-file", mitm.caFile], e);
  const report = doctor.stdout + doctor.stderr;
  for (const check of ["identity provider", "proxy", "gateway probe", "gateway auth", "count_tokens"]) expect(report).toMatch(new RegExp(`^✓ ${check} `, "m"));
  expect(report).not.toContain("not trusted");
  expect(tenantFlows().length).toBeGreaterThan(afterRefresh.length);
}, 60_000);

test("AGENT_RUNNER_AUTH_CA_FILE works as well", async () => {
  const login = await runCli(["login", tenant.tenant], corporateEnv({ AGENT_RUNNER_AUTH_CA_FILE: mitm.caFile }));
  expect(login.code).toBe(0);
}, 30_000);

test("without the bundle: the proxy's certificate is not trusted, a message naming --ca-file, exit 3", async () => {
  const e = corporateEnv();
  const login = await runCli(["login", tenant.tenant], e);
  expect(login.code).toBe(3);
  expect(login.stderr).toContain("is not trusted");
  expect(login.stderr).toContain("--ca-file");
});

test("a CA file that is missing or holds no PEM certificate: exit 5, saying what to pass", async () => {
  const e = corporateEnv();
  const missing = await runCli(["login", tenant.tenant, "--ca-file", "/nonexistent/ca.pem"], e);
  expect(missing.code).toBe(5);
  expect(missing.stderr).toContain("cannot read the CA file /nonexistent/ca.pem (ENOENT)");
  const junk = join(e.HOME!, "junk.pem");
  writeFileSync(junk, "not a certificate\n");
  const notPem = await runCli(["login", tenant.tenant, "--ca-file", junk], e);
  expect(notPem.code).toBe(5);
  expect(notPem.stderr).toContain("holds no PEM certificate");
  expect(notPem.stderr).toContain("--ca-file");
});
