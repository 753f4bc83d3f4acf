/**
 * The local tenant with `--upstreams FILE` (the gateway's pool format) instead of its stub: its
 * proxy, in process and as replicas, forwards through the pool, failing over from a refused
 * connection to a stub this test runs, with that stub's key read from a key file.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStubUpstream } from "../../src/tenant/stub-upstream.ts";
import { tenantAccessToken } from "../support/http-login.ts";
import { startTenant, type TenantProcess } from "../support/tenant.ts";

const dir = mkdtempSync(join(tmpdir(), "ara-tenant-upstreams-"));
const stub = startStubUpstream({ apiKey: "sk-ant-tenant-pool" });
const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
const refusedUrl = `http://127.0.0.1:${closed.port}`;
await closed.stop(true);
const started: TenantProcess[] = [];
afterAll(async () => {
  await Promise.all(started.map((t) => t.stop()));
  stub.stop();
  rmSync(dir, { recursive: true, force: true });
});

const keyFile = join(dir, "key");
writeFileSync(keyFile, "sk-ant-tenant-pool\n", { mode: 0o600 });
const upstreams = join(dir, "upstreams.json");
writeFileSync(upstreams, JSON.stringify({ upstreams: [{ name: "down", type: "anthropic", url: refusedUrl, apiKeyFile: keyFile }, { name: "stub", type: "anthropic", url: stub.url, apiKeyFile: keyFile }] }));

for (const replicas of [1, 2]) {
  test(`--upstreams FILE with ${replicas} replica(s): every proxy answers through the pool (failing over to the stub), no local stub started`, async () => {
    const tenant = await startTenant(["--upstreams", upstreams, ...(replicas > 1 ? ["--replicas", String(replicas), "--state", `sqlite:${join(dir, `state-${replicas}.db`)}`] : [])]);
    started.push(tenant);
    expect(tenant.upstream_key).toBeUndefined();
    const token = await tenantAccessToken(tenant, tenant.users[0]!.username, tenant.users[0]!.password);
    const before = stub.stats.requests;
    for (const proxy of tenant.proxies) {
      const response = await fetch(`${proxy}/anthropic/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model: "claude-stub", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }) });
      expect(response.status).toBe(200);
      await response.text();
    }
    expect(stub.stats.requests - before).toBe(tenant.proxies.length);
    expect(stub.recorded().at(-1)!.headers["x-api-key"]).toBe("sk-ant-tenant-pool");
  }, 60_000);
}

test("--upstreams is refused beside --upstream or --stub-key-env (exit 2, the reason)", async () => {
  await expect(startTenant(["--upstreams", upstreams, "--stub-key-env", "K"], { K: "sk-ant-0123456789" })).rejects.toThrow(/exited with 2: tenant: --upstreams names the whole pool/);
});
