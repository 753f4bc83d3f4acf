/**
 * The built binary names itself to the IdP and the tenant with its real version and commit (the
 * same as `--version`) and the platform, never "agent-runner-auth/dev". A loopback recording
 * server stands in for the tenant and the issuer: it logs each request's User-Agent and answers 404.
 */
import { afterAll, expect, test } from "bun:test";
import { BINARY, baseEnv, isolatedHome, runCli } from "../support/cli.ts";

const seen: { path: string; userAgent: string | null }[] = [];
const recorder = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    seen.push({ path: new URL(req.url).pathname, userAgent: req.headers.get("user-agent") });
    return new Response("not here", { status: 404 });
  },
});
afterAll(() => recorder.stop(true));
const base = `http://127.0.0.1:${recorder.port}`;

test("tenant discovery and OpenID discovery carry agent-runner-auth/<version> (<commit>; <os> <arch>)", async () => {
  const version = await runCli(["--version"], baseEnv({}));
  const match = /^agent-runner-auth (\S+) \((\S+)\)\n$/.exec(version.stdout);
  expect(match).not.toBeNull();
  const [, release, commit] = match!;
  expect(commit).toMatch(/^[0-9a-f]{7,40}(-dirty)?$|^source$/);
  const expected = `agent-runner-auth/${release} (${commit}; ${process.platform} ${process.arch})`;

  const env = baseEnv({ ...isolatedHome(), AGENT_RUNNER_AUTH_STORE: "file" });
  const viaTenant = await runCli(["login", base, "--no-browser"], env);
  expect(viaTenant.code).toBe(3);
  const viaIssuer = await runCli(["login", "--issuer", `${base}/pool`, "--client-id", "c", "--no-browser"], env);
  expect(viaIssuer.code).toBe(3);

  expect(seen.map((s) => s.path)).toEqual(["/.well-known/oauth-protected-resource/anthropic", "/pool/.well-known/openid-configuration"]);
  for (const request of seen) expect(request.userAgent).toBe(expected);
  expect(BINARY).toBeTruthy();
});
