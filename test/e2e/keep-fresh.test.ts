/**
 * `exec --keep-fresh` (issue 21, point 2) with the real built binary and the local tenant issuing
 * 20 s access tokens: a child that calls the API at 0 s and at 45 s (long after the token it would
 * have been handed had expired) gets 200 twice, the second answer streamed; the forwarder refuses
 * another user's process (a real `nobody`, via setpriv) even with the secret; the secret alone,
 * sent to the real gateway, is refused; the forwarder ends with the child, whose exit status and
 * signals pass through.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, startTenant, type TenantProcess } from "../support/tenant.ts";
import { BINARY, signedIn, execReceivingTerm } from "../support/cli.ts";

const ACCESS_TTL_S = 20;
const NOBODY = 65534;
let tenant: TenantProcess;
beforeAll(async () => {
  tenant = await startTenant(["--access-token-ttl", String(ACCESS_TTL_S)]);
});
afterAll(() => tenant?.stop());



/**
 * The long job: writes its environment where the test can read it, calls the API at once, waits
 * until told (the test meanwhile plays the other user), calls it again streamed at 45 s, and
 * reports both answers on stdout.
 */
const JOB = `
const [notes, go] = process.argv.slice(2);
const base = process.env.ANTHROPIC_BASE_URL;
const headers = { authorization: "Bearer " + process.env.ANTHROPIC_AUTH_TOKEN, "anthropic-version": "2023-06-01", "content-type": "application/json" };
const ask = (stream) => fetch(base + "/v1/messages", { method: "POST", headers, body: JSON.stringify({ model: "claude-stub", max_tokens: 16, stream, messages: [{ role: "user", content: "hi" }] }) });
await Bun.write(notes, JSON.stringify({ base, secret: process.env.ANTHROPIC_AUTH_TOKEN }));
const started = Date.now();
const first = await ask(false);
const firstBody = await first.json();
while (!(await Bun.file(go).exists())) await Bun.sleep(100);
await Bun.sleep(Math.max(0, 45_000 - (Date.now() - started)));
const second = await ask(true);
const events = (await second.text()).split("\\n").filter((l) => l.startsWith("event: ")).map((l) => l.slice(7));
console.log(JSON.stringify({ first: first.status, firstText: firstBody.content?.[0]?.text ?? firstBody.error?.message, second: second.status, secondType: second.headers.get("content-type"), events, at: Date.now() - started }));
process.exit(first.status === 200 && second.status === 200 ? 5 : 1);
`;

describe("exec --keep-fresh", () => {
  test("20 s tokens: calls at 0 s and at 45 s both get 200 (the second streamed); another user and the bare secret are refused; the forwarder ends with the child", async () => {
    const env = await signedIn(tenant);
    const dir = mkdtempSync(join(tmpdir(), "ara-keep-fresh-"));
    const job = join(dir, "job.ts");
    writeFileSync(job, JOB);
    const notes = join(dir, "notes.json");
    const go = join(dir, "go");
    const grantsBefore = (await tenant.stats()).grants.refresh_token ?? 0;

    const exec = spawn(BINARY, ["exec", "--keep-fresh", "--", BUN, job, notes, go], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    exec.stdout.on("data", (d) => (stdout += d));
    exec.stderr.on("data", (d) => (stderr += d));
    const ended = new Promise<number | null>((resolve) => exec.on("close", (code) => resolve(code)));
    while (!(await Bun.file(notes).exists())) await Bun.sleep(50);
    const { base, secret } = JSON.parse(readFileSync(notes, "utf8")) as { base: string; secret: string };
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/anthropic\/v1$/);
    expect(secret).not.toContain("."); // not a JWT: a per-run secret

    // another user of this machine, with the secret (as if it had read it): refused by the forwarder
    const asNobody = spawnSync("setpriv", ["--reuid", String(NOBODY), "--regid", String(NOBODY), "--clear-groups", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", `authorization: Bearer ${secret}`, `${base}/v1/models`], { encoding: "utf8" });
    expect(asNobody.stdout).toBe("403");
    // the same request from this user passes (so the 403 was the owner check, not the request)
    const asUs = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    expect(asUs.status).toBe(200);
    // the secret alone is worth nothing at the real gateway
    const atGateway = await fetch(`${tenant.tenant}/anthropic/v1/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    expect(atGateway.status).toBe(401);
    writeFileSync(go, "");

    const code = await ended;
    expect(code, stderr).toBe(5); // the child's own status
    const report = JSON.parse(stdout.trim());
    expect(report).toMatchObject({ first: 200, firstText: expect.stringContaining("Your token was verified by the proxy"), second: 200, secondType: expect.stringContaining("text/event-stream") });
    expect(report.events).toContain("message_start");
    expect(report.events.at(-1)).toBe("message_stop");
    expect(report.at).toBeGreaterThanOrEqual(45_000);
    // the token it started with had expired long before: the forwarder refreshed it
    expect(((await tenant.stats()).grants.refresh_token ?? 0) - grantsBefore).toBeGreaterThanOrEqual(1);
    expect(stderr).toContain("each with a fresh token");
    expect(stderr).not.toContain(secret);
    // gone with the child
    await expect(fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })).rejects.toThrow();
  }, 90_000);

  test("SIGTERM sent to exec reaches the child, and exec exits 143 like the child", async () => {
    const env = await signedIn(tenant);
    const { code, trapped } = await execReceivingTerm(["--keep-fresh"], env);
    expect(code).toBe(143);
    expect(trapped).toBe("got-term\n");
  }, 30_000);
});
