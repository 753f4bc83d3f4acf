import { expect, test } from "bun:test";
import { parseArgs } from "../../args.ts";
import { findCommand } from "../registry.ts";
import { exitCodeOf } from "../../errors.ts";
import type { LoginOptions as SignInOptions } from "../../oauth/login.ts";
import { fakeContext, NOW, PROFILE } from "../../../../test/support/fake-context.ts";
import { parseOptions, run } from "./login.ts";

const options = (argv: string[]) => parseOptions(parseArgs(argv, findCommand("login")!.options, "login"), {});
const discovery = {
  resource: "https://acme.proxy.example.com",
  authorization_servers: [PROFILE.issuer],
  agent_runner_auth: { client_id: "client-9", redirect_uris: ["http://localhost:53682/callback"], scopes: ["openid"], access_token_lifetime_seconds: 3600 },
};

test("login TENANT_URL: discovery, sign-in through the OAuth port, tokens stored, profile written, cool-down cleared", async () => {
  const signIns: Omit<SignInOptions, "trust">[] = [];
  const fake = fakeContext({
    profile: null,
    oauth: {
      fetchTenantDiscovery: async () => discovery as never,
      discoverEndpoints: async () => PROFILE.endpoints,
      signIn: async (o) => {
        signIns.push(o);
        return { accessToken: "acc", expiresIn: 3600, refreshToken: "ref" };
      },
    },
  });
  fake.attempts.set("default", { startedAt: NOW - 60_000, failedAt: NOW - 30_000 });
  expect(await run(fake.ctx, options(["https://acme.proxy.example.com/", "--store", "pass", "--no-browser", "--timeout", "90s"]))).toBe(0);
  expect(fake.calls).toEqual(["fetchTenantDiscovery", "discoverEndpoints", "signIn"]);
  expect(signIns[0]).toMatchObject({ browser: null, timeoutMs: 90_000 });
  expect(fake.profiles.get("default")).toMatchObject({ tenant: "https://acme.proxy.example.com", clientId: "client-9", store: "pass", scopes: ["openid"] });
  expect(JSON.parse(fake.stores.pass.values.get("access")!)).toMatchObject({ token: "acc", expiresAt: NOW + 3_600_000 });
  expect(fake.stores.pass.values.has("probe")).toBe(false);
  expect(fake.attempts.size).toBe(0);
  expect(fake.locks).toBe(1);
  expect(fake.stderr.at(-1)).toBe('Logged in to https://acme.proxy.example.com (profile "default", memory (pass)).');
});

test("a failed sign-in stores nothing and leaves the profile as it was", async () => {
  const fake = fakeContext({ oauth: { signIn: async () => Promise.reject(new Error("boom")) } });
  expect(await run(fake.ctx, options([])).catch((e: unknown) => (e as Error).message)).toBe("boom");
  expect(fake.stores.file.values.size).toBe(0);
  expect(fake.profiles.get("default")).toEqual(PROFILE);
});

test("usage errors before anything is sent (exit 2)", async () => {
  for (const [argv, message] of [
    [["a", "b"], "login takes one TENANT_URL"],
    [["https://t.example", "--issuer", "https://i.example"], "give either TENANT_URL or --issuer"],
    [["--issuer", "https://i.example"], "--issuer and --client-id go together"],
    [["--port", "70000"], "--port must be a port number"],
  ] as const) {
    expect(() => options([...argv])).toThrow(message);
  }
  const fake = fakeContext({ profile: null });
  const error = await run(fake.ctx, options(["http://remote.example.com"])).catch((e: unknown) => e);
  expect(exitCodeOf(error)).toBe(2);
  expect(fake.calls).toEqual([]);
});

test("no browser here (SSH, no display): signs in without one, and the screen names the callback port actually listened on", async () => {
  const signIns: Omit<SignInOptions, "trust">[] = [];
  const fake = fakeContext({ env: { SSH_CONNECTION: "10.0.0.2 50000 10.0.0.1 22" }, oauth: { signIn: async (o) => (signIns.push(o), { accessToken: "acc", expiresIn: 3600, refreshToken: "ref" }) } });
  fake.ctx.platform = "darwin"; // `open` over SSH would show the page on the remote Mac's screen
  expect(await run(fake.ctx, options([]))).toBe(0);
  expect(signIns[0]!.browser).toBeNull();
  expect(signIns[0]!.headlessHelp!(53683).join("\n")).toContain("ssh -L 53683:localhost:53683");

  const desktop = fakeContext({ env: { DISPLAY: ":0" }, oauth: { signIn: async (o) => (signIns.push(o), { accessToken: "acc", expiresIn: 3600, refreshToken: "ref" }) } });
  await run(desktop.ctx, options([]));
  expect(signIns[1]!.browser).not.toBeNull();
  await run(desktop.ctx, options(["--no-browser"]));
  expect(signIns[2]).toMatchObject({ browser: null });
  expect(signIns[2]!.headlessHelp).toBeUndefined(); // asked for at a desktop: the plain paste flow
});
