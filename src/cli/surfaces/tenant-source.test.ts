import { describe, expect, test } from "bun:test";
import { buildTenantDiscovery, discoveryUrlFor } from "../../shared/tenant-discovery.ts";
import { SurfacesError } from "./errors.ts";
import type { ReadText } from "./ports.ts";
import { claudeSettingsFiles, parseSystemConfig, resolveTenant, systemConfigPath, tenantFromBaseUrl, type FetchLike, type TenantSourceDeps } from "./tenant-source.ts";

const TENANT = "https://acme.proxy.example.com";
const discovery = (tenant: string) =>
  buildTenantDiscovery(tenant, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", { client_id: "c", redirect_uris: ["http://localhost:53682/callback"], scopes: ["openid"] });

/** Files by path; a value of Error is thrown (as the real reader throws on a symlink). */
function files(map: Record<string, string | Error>): { read: ReadText; calls: { path: string; trusted: boolean }[] } {
  const calls: { path: string; trusted: boolean }[] = [];
  return {
    calls,
    read: (path, { trusted }) => {
      calls.push({ path, trusted });
      const v = map[path];
      if (v instanceof Error) throw v;
      return v ?? null;
    },
  };
}

function fetchFor(tenants: string[], seen: string[] = []): FetchLike {
  return async (url) => {
    seen.push(url);
    const tenant = tenants.find((t) => discoveryUrlFor(t) === url);
    return tenant ? Response.json(discovery(tenant)) : new Response("not found", { status: 404 });
  };
}

function deps(over: Partial<TenantSourceDeps> = {}): TenantSourceDeps {
  return {
    env: {},
    platform: "linux",
    cwd: "/work/repo",
    home: "/home/u",
    profileName: "default",
    savedTenant: undefined,
    readText: files({}).read,
    fetch: fetchFor([]),
    ...over,
  };
}

const settings = (base: string, comment = "") => `{\n  ${comment}\n  "env": { "ANTHROPIC_BASE_URL": ${JSON.stringify(base)} },\n}\n`;

describe("tenantFromBaseUrl", () => {
  test("strips /anthropic/v1 and /anthropic (with trailing slashes), keeps a path prefix", () => {
    expect(tenantFromBaseUrl("https://acme.proxy.example.com/anthropic/v1")).toBe(TENANT);
    expect(tenantFromBaseUrl("https://acme.proxy.example.com/anthropic/")).toBe(TENANT);
    expect(tenantFromBaseUrl("https://gw.example.com/t/acme/anthropic/v1/")).toBe("https://gw.example.com/t/acme");
  });
  test("anything else is not a tenant gateway", () => {
    for (const v of ["https://api.anthropic.com", "https://litellm.example.com/v1", "https://x/anthropic/v2", "https://x/anthropic?x=1", "not a url", 42, undefined]) {
      expect(tenantFromBaseUrl(v)).toBeNull();
    }
  });
});

describe("paths", () => {
  test("system configuration per platform, and the override", () => {
    expect(systemConfigPath("linux", {})).toBe("/etc/agent-runner-auth/config.json");
    expect(systemConfigPath("darwin", {})).toBe("/Library/Application Support/agent-runner-auth/config.json");
    expect(systemConfigPath("win32", {})).toBe("C:\\ProgramData\\agent-runner-auth\\config.json");
    expect(systemConfigPath("win32", { ProgramData: "D:\\PD" })).toBe("D:\\PD\\agent-runner-auth\\config.json");
    expect(systemConfigPath("linux", { AGENT_RUNNER_AUTH_SYSTEM_CONFIG: "/tmp/c.json" })).toBe("/tmp/c.json");
  });
  test("Claude Code settings in its precedence, repository files untrusted", () => {
    expect(claudeSettingsFiles("linux", {}, "/r", "/home/u")).toEqual([
      { scope: "managed", path: "/etc/claude-code/managed-settings.json", trusted: true },
      { scope: "local", path: "/r/.claude/settings.local.json", trusted: false },
      { scope: "project", path: "/r/.claude/settings.json", trusted: false },
      { scope: "user", path: "/home/u/.claude/settings.json", trusted: true },
    ]);
    expect(claudeSettingsFiles("darwin", { CLAUDE_CONFIG_DIR: "/cfg/" }, "/r", "/Users/u").map((f) => f.path)).toEqual([
      "/Library/Application Support/ClaudeCode/managed-settings.json",
      "/r/.claude/settings.local.json",
      "/r/.claude/settings.json",
      "/cfg/settings.json",
    ]);
    expect(claudeSettingsFiles("win32", {}, "C:\\r", "C:\\Users\\u").map((f) => f.path)).toEqual([
      "C:\\Program Files\\ClaudeCode\\managed-settings.json",
      "C:\\ProgramData\\ClaudeCode\\managed-settings.json",
      "C:\\r\\.claude\\settings.local.json",
      "C:\\r\\.claude\\settings.json",
      "C:\\Users\\u\\.claude\\settings.json",
    ]);
  });
});

describe("parseSystemConfig", () => {
  const path = "/etc/agent-runner-auth/config.json";
  test("the full shape, comments allowed, trailing slash dropped", () => {
    const text = `// installed by IT\n{ "tenant": "${TENANT}/", "profile": "work", "identityProvider": "EntraID", "idpIdentifier": "example.com", "loginHint": "a@example.com" }`;
    expect(parseSystemConfig(text, path)).toEqual({ tenant: TENANT, profile: "work", identityProvider: "EntraID", idpIdentifier: "example.com", loginHint: "a@example.com" });
  });
  test("the empty example packages ship means: not configured", () => {
    expect(parseSystemConfig("", path)).toBeNull();
    expect(parseSystemConfig("{}\n", path)).toBeNull();
    expect(parseSystemConfig(`{ "$schema": "x" }`, path)).toBeNull();
  });
  test.each([
    [`{ "tenant": "http://acme.example.com" }`, /must use https/],
    [`{ "tenant": 3 }`, /must be a URL/],
    [`{ "tennant": "${TENANT}" }`, /unknown member "tennant"/],
    [`{ "tenant": "${TENANT}", "profile": "../x" }`, /"profile" must use letters/],
    [`{ "tenant": "${TENANT}", "loginHint": "a\\u001b[2Jb" }`, /"loginHint" must be/],
    [`{ "tenant": `, /not valid JSON .* at line 1/],
    [`[1]`, /top level is not a JSON object/],
  ])("refuses %s with a message naming the file", (text, message) => {
    let error: unknown;
    try {
      parseSystemConfig(text, path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SurfacesError);
    expect((error as SurfacesError).code).toBe("bad_file");
    expect((error as SurfacesError).exitCode).toBe(5);
    expect((error as SurfacesError).message).toContain(path);
    expect((error as SurfacesError).message).toMatch(message);
  });
});

describe("resolveTenant order", () => {
  const systemPath = "/etc/agent-runner-auth/config.json";
  const userSettings = "/home/u/.claude/settings.json";
  test("1. the profile's saved tenant wins over everything", async () => {
    const fs = files({ [systemPath]: `{"tenant":"https://other.example.com"}` });
    const r = await resolveTenant(deps({ savedTenant: TENANT, env: { AGENT_RUNNER_TENANT: "https://env.example.com" }, readText: fs.read }));
    expect(r).toMatchObject({ tenant: TENANT, source: "profile" });
    expect(r.sentence).toBe(`Using the tenant ${TENANT} saved in profile "default".`);
    expect(fs.calls).toEqual([]);
  });
  test("2. AGENT_RUNNER_TENANT before the system configuration; checked by the endpoint policy", async () => {
    const fs = files({ [systemPath]: `{"tenant":"https://other.example.com"}` });
    const r = await resolveTenant(deps({ env: { AGENT_RUNNER_TENANT: `${TENANT}/` }, readText: fs.read }));
    expect(r).toMatchObject({ tenant: TENANT, source: "env", sentence: `Using the tenant ${TENANT} from AGENT_RUNNER_TENANT.` });
    const bad = resolveTenant(deps({ env: { AGENT_RUNNER_TENANT: "http://evil.example.com" } }));
    await expect(bad).rejects.toMatchObject({ code: "bad_env", exitCode: 5 });
  });
  test("3. the system configuration before Claude's settings, with its login hints", async () => {
    const fs = files({ [systemPath]: `{"tenant":"${TENANT}","identityProvider":"Okta"}`, [userSettings]: settings("https://other.example.com/anthropic/v1") });
    const r = await resolveTenant(deps({ readText: fs.read }));
    expect(r).toMatchObject({ tenant: TENANT, source: "system", system: { identityProvider: "Okta" } });
    expect(r.sentence).toContain(systemPath);
    expect(fs.calls.map((c) => c.path)).toEqual([systemPath]);
  });
  test("4. Claude's user settings (JSONC), confirmed by the discovery document", async () => {
    const seen: string[] = [];
    const fs = files({ [systemPath]: "{}", [userSettings]: settings(`${TENANT}/anthropic/v1`, "// my gateway") });
    const r = await resolveTenant(deps({ readText: fs.read, fetch: fetchFor([TENANT], seen) }));
    expect(r).toMatchObject({ tenant: TENANT, source: `claude-settings:${userSettings}` });
    expect(r.sentence).toBe(`Using the tenant ${TENANT} from ${userSettings} (Claude Code's user settings, ANTHROPIC_BASE_URL).`);
    expect(seen).toEqual([`${TENANT}/.well-known/oauth-protected-resource/anthropic`]);
  });
  test("4. local beats project beats user; repository files are read untrusted", async () => {
    const local = "/work/repo/.claude/settings.local.json";
    const project = "/work/repo/.claude/settings.json";
    const fs = files({ [local]: settings("https://local.example.com/anthropic"), [project]: settings("https://project.example.com/anthropic"), [userSettings]: settings(`${TENANT}/anthropic`) });
    const r = await resolveTenant(deps({ readText: fs.read, fetch: fetchFor(["https://local.example.com", "https://project.example.com", TENANT]) }));
    expect(r.source).toBe(`claude-settings:${local}`);
    expect(fs.calls.find((c) => c.path === local)?.trusted).toBe(false);
    expect(fs.calls.find((c) => c.path === "/etc/claude-code/managed-settings.json")?.trusted).toBe(true);
  });
  test("4. a gateway that is not a tenant (no discovery document) is skipped with a note", async () => {
    const project = "/work/repo/.claude/settings.json";
    const fs = files({ [project]: settings("https://litellm.example.com/anthropic"), [userSettings]: settings(`${TENANT}/anthropic/v1`) });
    const r = await resolveTenant(deps({ readText: fs.read, fetch: fetchFor([TENANT]) }));
    expect(r.tenant).toBe(TENANT);
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toContain(project);
    expect(r.notes[0]).toContain("HTTP 404");
  });
  test("4. a discovery document for another resource does not confirm", async () => {
    const fs = files({ [userSettings]: settings(`${TENANT}/anthropic`) });
    const lying: FetchLike = async () => Response.json(discovery("https://elsewhere.example.com"));
    await expect(resolveTenant(deps({ readText: fs.read, fetch: lying }))).rejects.toMatchObject({ code: "no_tenant", message: "no tenant configured yet" });
  });
  test("4. non-tenant URLs, plain http off loopback and a failing fetch are notes, not errors", async () => {
    const fs = files({
      "/etc/claude-code/managed-settings.json": settings("https://api.example.com/v1"),
      "/work/repo/.claude/settings.local.json": settings("http://evil.example.com/anthropic"),
      "/work/repo/.claude/settings.json": settings("https://down.example.com/anthropic"),
      [userSettings]: `{"env":{}}`,
    });
    const failing: FetchLike = async () => {
      throw new Error("connect ECONNREFUSED");
    };
    const error = await resolveTenant(deps({ readText: fs.read, fetch: failing })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "no_tenant" });
  });
  test("4. a broken settings file is a clear error naming it; a symlink error from the reader passes through", async () => {
    const project = "/work/repo/.claude/settings.json";
    await expect(resolveTenant(deps({ readText: files({ [project]: `{"env": ` }).read }))).rejects.toMatchObject({ code: "bad_file", path: project });
    const link = new SurfacesError("unsafe_path", `refusing to read ${project}: it is a symbolic link`, undefined, { path: project });
    await expect(resolveTenant(deps({ readText: files({ [project]: link }).read }))).rejects.toBe(link);
  });
  test("5. the prompt, last; a pasted base URL is accepted; hostile answers refused", async () => {
    expect(await resolveTenant(deps({ prompt: async () => `  ${TENANT}/anthropic/v1 ` }))).toMatchObject({ tenant: TENANT, source: "prompt" });
    await expect(resolveTenant(deps({ prompt: async () => "javascript:alert(1)" }))).rejects.toMatchObject({ code: "bad_prompt_answer", exitCode: 2 });
    await expect(resolveTenant(deps({ prompt: async () => "" }))).rejects.toMatchObject({ code: "no_tenant", exitCode: 2 });
  });
  test("every source empty: today's line and hint", async () => {
    const e = (await resolveTenant(deps()).catch((x: unknown) => x)) as SurfacesError;
    expect(e.message).toBe("no tenant configured yet");
    expect(e.hint).toBe("Run: agent-runner-auth login https://<your-slug>.proxy.<domain>");
  });
  test("terminal escapes in a settings URL never reach the sentence or notes raw", async () => {
    const fs = files({ [userSettings]: settings("https://x.example.com/\u001b[2J/v9") });
    const e = await resolveTenant(deps({ readText: fs.read, prompt: async () => null })).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "no_tenant" });
    const fs2 = files({ [userSettings]: settings("https://x.example.com/\u009b31m/anthropic") });
    const r = await resolveTenant(deps({ readText: fs2.read, fetch: async () => new Response("", { status: 500 }), prompt: async () => TENANT }));
    expect(r.notes.join("")).not.toMatch(/[\u001b\u009b]/);
  });
});
