/**
 * The local tenant as the upstream of a gateway you deploy yourself (issue 16, point 4), with the
 * real tenant process: its JSON line names the stub's key (`upstream_key`), `--stub-key-env NAME`
 * sets that key from a variable (never from argv), and a separate gateway process started with
 * that key in front of the tenant's IdP and stub answers a signed-in person's request.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { tenantAccessToken } from "../support/http-login.ts";
import { portBlock } from "../support/ports.ts";
import { BUN, ROOT, startTenant, type TenantProcess } from "../support/tenant.ts";

const started: TenantProcess[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill("SIGTERM");
  await Promise.all(started.map((t) => t.stop()));
});

async function tenantWith(args: string[] = [], env: Record<string, string> = {}): Promise<TenantProcess> {
  const tenant = await startTenant(args, env);
  started.push(tenant);
  return tenant;
}

/** What the stub answers a request carrying `key` (its own check, no gateway in between). */
const stubStatus = async (tenant: TenantProcess, key: string) => (await fetch(`${tenant.upstream}/v1/models`, { headers: { "x-api-key": key } })).status;

describe("the stub's key in the tenant's JSON line", () => {
  test("by default a random key, named as upstream_key, which the stub accepts (and nothing else)", async () => {
    const tenant = await tenantWith();
    expect(tenant.upstream_key).toMatch(/^sk-ant-local-[0-9a-f]{32}$/);
    expect(await stubStatus(tenant, tenant.upstream_key!)).toBe(200);
    expect(await stubStatus(tenant, `${tenant.upstream_key}x`)).toBe(401);
    const other = await tenantWith();
    expect(other.upstream_key).not.toBe(tenant.upstream_key);
  }, 30_000);

  test("--stub-key-env NAME: the key comes from that variable, is named in the line, accepted by the stub, and is not in the process's argv", async () => {
    const key = `sk-ant-mine-${randomBytes(12).toString("hex")}`;
    const tenant = await tenantWith(["--stub-key-env", "ARA_TEST_STUB_KEY"], { ARA_TEST_STUB_KEY: key });
    expect(tenant.upstream_key).toBe(key);
    expect(await stubStatus(tenant, key)).toBe(200);
    expect(await stubStatus(tenant, "sk-ant-local-guess")).toBe(401);
    const argv = readFileSync(`/proc/${tenant.child.pid}/cmdline`, "utf8");
    expect(argv).toContain("--stub-key-env");
    expect(argv).not.toContain(key);
  }, 30_000);

  test("--stub-key-env refuses an unset variable, a key that is not a header value, and --upstream (no stub then), each with exit 2 and the reason", async () => {
    await expect(tenantWith(["--stub-key-env", "ARA_TEST_UNSET_KEY"])).rejects.toThrow(/exited with 2: tenant: --stub-key-env ARA_TEST_UNSET_KEY: that environment variable is not set/);
    await expect(tenantWith(["--stub-key-env", "ARA_TEST_BAD_KEY"], { ARA_TEST_BAD_KEY: "has spaces in it" })).rejects.toThrow(/exited with 2: .*8 to 256 printable ASCII characters without spaces/);
    await expect(tenantWith(["--stub-key-env", "K", "--upstream", "http://127.0.0.1:9", "--upstream-key-env", "K"], { K: "sk-ant-0123456789" })).rejects.toThrow(/exited with 2: .*with --upstream there is no stub/);
  }, 30_000);
});

describe("a gateway deployed in front of the local tenant", () => {
  test("a separate gateway process, configured from the JSON line (issuer, upstream, upstream_key through a variable), answers the tenant's user 200 with the stub's answer", async () => {
    const key = `sk-ant-deployed-${randomBytes(12).toString("hex")}`;
    const tenant = await tenantWith(["--stub-key-env", "ARA_TEST_STUB_KEY"], { ARA_TEST_STUB_KEY: key });
    const [port, metricsPort] = portBlock(2);
    // all from the environment, the key through a variable that names another: nothing secret in argv
    const gateway = spawn(BUN, [join(ROOT, "src/proxy/main.ts")], {
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...process.env,
        BUN_CONFIG_MAX_HTTP_REQUESTS: "65535",
        AGENT_RUNNER_PROXY_WORKERS: "1",
        AGENT_RUNNER_PROXY_HOST: "127.0.0.1",
        PORT: String(port),
        AGENT_RUNNER_PROXY_METRICS_PORT: String(metricsPort),
        AGENT_RUNNER_PROXY_ISSUER: tenant.issuer,
        AGENT_RUNNER_PROXY_CLIENT_IDS: tenant.client_id,
        AGENT_RUNNER_PROXY_UPSTREAM: tenant.upstream!,
        AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV: "ARA_TEST_STUB_KEY",
        ARA_TEST_STUB_KEY: tenant.upstream_key!,
      },
    });
    children.push(gateway);
    await new Promise<void>((resolve, reject) => {
      let stderr = "";
      createInterface({ input: gateway.stderr! }).on("line", (l) => {
        stderr += l + "\n";
        if (l.includes("listening on")) resolve();
      });
      gateway.once("exit", (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
    });
    const token = await tenantAccessToken(tenant, tenant.users[0]!.username, tenant.users[0]!.password);
    const response = await fetch(`http://127.0.0.1:${port}/anthropic/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "anthropic-version": "2023-06-01" }, body: JSON.stringify({ model: "claude-stub", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { content: { text: string }[] }).content[0]!.text).toContain("Hello from the local agent-runner tenant");
    const seen = (await (await fetch(`${tenant.upstream}/_stub/requests`)).json()) as { headers: Record<string, string> }[];
    expect(seen.at(-1)!.headers["x-api-key"]).toBe(key);
  }, 30_000);
});
