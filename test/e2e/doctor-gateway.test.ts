/**
 * `doctor` checks the gateway with the user's token (issue 11, sections 4 and 5), through the
 * real binary and the real local tenant: the HEAD probe, 401 + WWW-Authenticate for a bad token,
 * count_tokens, and `--deep`'s one-token stream, which must arrive in pieces or, when the answer is
 * tiny and sent at once, whole soon after the request (short, not held back). The "bad" network is
 * a real nginx reverse proxy in front of the tenant's proxy with `proxy_buffering on` (the
 * profile's tenant URL pointed at it after login), which collapses the
 * stream into one piece; the direct connection is the good case. Also: SSH detection.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { gatewayDir, startProxyProcess } from "../support/gateway.ts";
import { runCli, signedIn } from "../support/cli.ts";

let tenant: TenantProcess;
let nginx: ChildProcess;
let nginxUrl: string;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  tenant = await startTenant();
  // Events 120 ms apart, as a model's tokens are: a streaming path delivers them apart.
  await fetch(`${tenant.upstream}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal", eventDelayMs: 120 }) });
  const dir = mkdtempSync(join(tmpdir(), "ara-nginx-"));
  const port = await freePort();
  // A reverse proxy that buffers responses (proxy_buffering on, X-Accel-Buffering ignored, output
  // postponed, and compressed: gzip holds small events until its buffer fills or the stream ends;
  // proxy_buffering alone still passed these events on one by one), as a middlebox
  // in front of a gateway can. (Bun's fetch does not send loopback requests through HTTP_PROXY.)
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass ${tenant.tenant}; proxy_http_version 1.1; proxy_buffering on; proxy_ignore_headers X-Accel-Buffering; proxy_buffers 8 64k; proxy_buffer_size 64k; proxy_busy_buffers_size 128k; postpone_output 65536; gzip on; gzip_types text/event-stream; gzip_min_length 1; gzip_proxied any; }
  }
}
`,
  );
  nginx = spawn("nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: "ignore" });
  nginxUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(nginxUrl);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});
afterAll(async () => {
  nginx?.kill("SIGTERM");
  await tenant.stop();
});


type Check = { name: string; verdict: string; detail: string; fix?: string };
const check = (stdout: string, name: string): Check | undefined => (JSON.parse(stdout).checks as Check[]).find((c) => c.name === name);

test("direct: the probe, the bad-token 401, count_tokens and the --deep stream (in pieces) all pass", async () => {
  const env = await signedIn(tenant);
  const out = await runCli(["doctor", "--deep", "--json"], env);
  expect(check(out.stdout, "gateway probe")).toMatchObject({ verdict: "pass" });
  expect(check(out.stdout, "gateway auth")).toMatchObject({ verdict: "pass", detail: expect.stringContaining("WWW-Authenticate: Bearer") });
  expect(check(out.stdout, "count_tokens")).toMatchObject({ verdict: "pass" });
  expect(check(out.stdout, "streaming")).toMatchObject({ verdict: "pass", detail: expect.stringMatching(/arrived in \d+ pieces/) });
  const requests = (await (await fetch(`${tenant.upstream}/_stub/requests`)).json()) as { path: string; body: string }[];
  const streamed = requests.filter((r) => r.path === "/v1/messages").map((r) => JSON.parse(r.body));
  expect(streamed.at(-1)).toMatchObject({ max_tokens: 1, stream: true });
}, 30_000);

test("without --deep no model request is sent, and the stream check says how to run it", async () => {
  const env = await signedIn(tenant);
  const before = ((await (await fetch(`${tenant.upstream}/_stub/requests`)).json()) as { path: string }[]).filter((r) => r.path === "/v1/messages").length;
  const out = await runCli(["doctor", "--json"], env);
  expect(check(out.stdout, "streaming")).toMatchObject({ verdict: "skip", detail: expect.stringContaining("doctor --deep") });
  const after = ((await (await fetch(`${tenant.upstream}/_stub/requests`)).json()) as { path: string }[]).filter((r) => r.path === "/v1/messages").length;
  expect(after).toBe(before);
}, 30_000);

/** The stub's events this far apart (120: a model's pace; 0: all at once, as a tiny answer comes). */
async function eventDelay(ms: number) {
  await fetch(`${tenant.upstream}/_stub/behaviour`, { method: "POST", body: JSON.stringify({ mode: "normal", eventDelayMs: ms }) });
}

/** A signed-in profile whose tenant URL is the buffering nginx in front of the gateway. */
async function throughNginx() {
  const env = await signedIn(tenant);
  const profileFile = join(env.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json");
  const profile = JSON.parse(readFileSync(profileFile, "utf8"));
  writeFileSync(profileFile, JSON.stringify({ ...profile, tenant: nginxUrl }));
  return env;
}

test("through a buffering nginx: the events, 120 ms apart, are held back and arrive in one piece at the end; doctor fails it with the fix, exit 1", async () => {
  const env = await throughNginx();
  const out = await runCli(["doctor", "--deep"], env);
  expect(out.stderr).toContain(`tenant ${nginxUrl}`);
  expect(out.code).toBe(1);
  expect(out.stderr).toMatch(/✗ streaming +the streamed answer arrived in one piece, headers and all, only \d+ ms after the request, compressed \(content-encoding: gzip\): small events were held back/);
  expect(out.stderr).toContain("fix: Turn off response buffering");
  expect(out.stderr).toMatch(/✓ count_tokens/); // the rest works through it
}, 30_000);

test("direct, a tiny answer sent all at once: one piece because it was short, no buffering blamed", async () => {
  const env = await signedIn(tenant);
  await eventDelay(0);
  try {
    const out = await runCli(["doctor", "--deep", "--json"], env);
    const streaming = check(out.stdout, "streaming")!;
    expect(streaming.verdict).toBe("pass");
    expect(streaming.detail).toMatch(/^the one-token answer was short: it arrived whole \d+ ms after the request, in one piece/);
    expect(streaming.detail).not.toMatch(/buffer|held back on the way/);
  } finally {
    await eventDelay(120);
  }
}, 30_000);

test("through the compressing nginx, a tiny answer: too short to show holding, but the compression is named (a warning, not a failure)", async () => {
  const env = await throughNginx();
  await eventDelay(0);
  try {
    const out = await runCli(["doctor", "--deep", "--json"], env);
    const streaming = check(out.stdout, "streaming")!;
    expect(streaming.verdict).toBe("warn");
    expect(streaming.detail).toContain("content-encoding: gzip");
    expect(streaming.fix).toContain("gzip off");
  } finally {
    await eventDelay(120);
  }
}, 30_000);

test("a gateway whose own upstream key is refused: doctor names it as the gateway's problem, not the person's (no 'log in')", async () => {
  const env = await signedIn(tenant);
  // the real gateway, for the tenant's IdP and stub upstream, with a key the stub refuses (401)
  const files = gatewayDir("sk-ant-not-the-stubs-key");
  const gateway = await startProxyProcess({ issuer: tenant.issuer, clientId: tenant.client_id, upstream: tenant.upstream!, state: `sqlite:${join(files.dir, "state.db")}`, adminKeyFile: files.adminKeyFile, upstreamKeyFile: files.upstreamKeyFile });
  try {
    const profileFile = join(env.XDG_CONFIG_HOME!, "agent-runner-auth", "profiles", "default.json");
    const profile = JSON.parse(readFileSync(profileFile, "utf8"));
    writeFileSync(profileFile, JSON.stringify({ ...profile, tenant: gateway.url }));
    const out = await runCli(["doctor", "--json"], env);
    expect(out.code).toBe(1);
    const proxy = check(out.stdout, "proxy")!;
    expect(proxy.verdict).toBe("fail");
    expect(proxy.detail).toContain("answered 502: the Anthropic API refused the gateway's own credential");
    expect(proxy.detail).toContain("the gateway's problem, not your sign-in");
    expect(proxy.fix).toContain("Tell the gateway's operator");
    expect(proxy.fix).not.toContain("agent-runner-auth login");
    const human = await runCli(["doctor"], env);
    expect(human.stderr).toContain("the gateway's problem, not your sign-in");
  } finally {
    await gateway.stop();
  }
}, 30_000);

test("in an SSH session doctor says which sign-in will work", async () => {
  const env = await signedIn(tenant);
  const out = await runCli(["doctor"], { ...env, SSH_CONNECTION: "10.0.0.2 50000 10.0.0.1 22" });
  // (this test machine may itself be a container: then that comes first, SSH is still named)
  expect(out.stderr).toMatch(/! sign-in here +(ssh|container) \([^)]*SSH_CONNECTION is set\)/);
  expect(out.stderr).toMatch(/fix: .*login --no-browser --port \d+/);
}, 30_000);
