import { describe, expect, test } from "bun:test";
import { checkDesktopEntry, desktopHelperTtlSec, desktopLibraryDir, desktopMinValidityMs, entryName, helperAliasName, helperAliasPlan, parseHelperAlias, planDesktopConfig, planDesktopRemoval, type LibraryFiles } from "./desktop-config.ts";
import { SurfacesError } from "./errors.ts";

const ID1 = "11111111-2222-4333-8444-555555555555";
const ID2 = "99999999-8888-4777-8666-555555555555";
const OTHER = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const HELPER = "/Users/u/Library/Application Support/agent-runner-auth/desktop-helper/agent-runner-auth-desktop-helper";
const settings = { tenant: "https://acme.proxy.example.com", helperPath: HELPER, ttlSec: 300 };

function library(files: Record<string, string>): LibraryFiles {
  return { dir: "/lib", read: (n) => files[n] ?? null, join: (n) => `/lib/${n}` };
}
const after = (plan: { changes: { path: string; after: string | null }[] }, path: string) => {
  const text = plan.changes.find((c) => c.path === path)?.after;
  return text == null ? text : JSON.parse(text);
};

describe("paths and names", () => {
  test("library per platform; Linux refused naming the platforms", () => {
    expect(desktopLibraryDir("darwin", {}, "/Users/u", () => false)).toBe("/Users/u/Library/Application Support/Claude-3p/configLibrary");
    expect(desktopLibraryDir("win32", { APPDATA: "C:\\Users\\u\\AppData\\Roaming" }, "C:\\Users\\u", () => false)).toBe("C:\\Users\\u\\AppData\\Roaming\\Claude-3p\\configLibrary");
    const local = (p: string) => p === "C:\\L\\Claude-3p";
    expect(desktopLibraryDir("win32", { APPDATA: "C:\\R", LOCALAPPDATA: "C:\\L" }, "C:\\Users\\u", local)).toBe("C:\\L\\Claude-3p\\configLibrary");
    const e = (() => {
      try {
        desktopLibraryDir("linux", {}, "/home/u", () => true);
      } catch (x) {
        return x as SurfacesError;
      }
    })();
    expect(e).toBeInstanceOf(SurfacesError);
    expect(e!.code).toBe("unsupported_platform");
    expect(e!.message).toMatch(/macOS and Windows/);
    expect(e!.hint).toMatch(/setup claude/);
  });
  test("TTL: at most 300 s, a quarter of short lifetimes, never below 30 s; validity twice the TTL", () => {
    expect(desktopHelperTtlSec(undefined)).toBe(300);
    expect(desktopHelperTtlSec(3600)).toBe(300);
    expect(desktopHelperTtlSec(300)).toBe(75);
    expect(desktopHelperTtlSec(60)).toBe(30);
    expect(desktopMinValidityMs(300)).toBe(600_000);
    for (const lifetime of [300, 900, 3600, 86_400]) expect(desktopHelperTtlSec(lifetime)).toBeLessThan(lifetime - 60);
  });
  test("helper alias names round-trip through argv0 for every profile", () => {
    for (const platform of ["darwin", "win32"] as const) {
      for (const profile of ["default", "client-x", "a.b_c", "exe"]) {
        const name = helperAliasName(profile, platform);
        expect(parseHelperAlias(`${platform === "win32" ? "C:\\x\\" : "/some dir/"}${name}`, platform)).toEqual({ profile });
      }
    }
    expect(parseHelperAlias("C:\\x\\AGENT-RUNNER-AUTH-DESKTOP-HELPER.EXE", "win32")).toBeNull();
    expect(parseHelperAlias("C:\\x\\agent-runner-auth-desktop-helper.EXE", "win32")).toEqual({ profile: "default" });
    expect(parseHelperAlias("/usr/local/bin/agent-runner-auth", "darwin")).toBeNull();
    expect(parseHelperAlias("/x/agent-runner-auth-desktop-helper.", "darwin")).toBeNull();
    expect(parseHelperAlias("/x/agent-runner-auth-desktop-helper.-x", "darwin")).toBeNull();
    expect(parseHelperAlias("agent-runner-auth-desktop-helperX", "linux")).toBeNull();
  });
  test("alias plan: symlink on macOS, link-or-copy on Windows; absolute binary only", () => {
    expect(helperAliasPlan("darwin", "/Users/u/Library/Application Support/agent-runner-auth", "/usr/local/bin/agent-runner-auth", "work")).toEqual({
      path: "/Users/u/Library/Application Support/agent-runner-auth/desktop-helper/agent-runner-auth-desktop-helper.work",
      target: "/usr/local/bin/agent-runner-auth",
      kind: "symlink",
    });
    expect(helperAliasPlan("win32", "C:\\A\\agent-runner-auth", "C:\\P\\agent-runner-auth.exe", "default")).toMatchObject({ path: "C:\\A\\agent-runner-auth\\desktop-helper\\agent-runner-auth-desktop-helper.exe", kind: "hardlink-or-copy" });
    expect(() => helperAliasPlan("darwin", "/c", "agent-runner-auth", "default")).toThrow(TypeError);
  });
});

describe("planDesktopConfig", () => {
  test("an empty library: a new entry, applied, listed in _meta.json", () => {
    const plan = planDesktopConfig(library({}), "default", settings, () => ID1);
    expect(plan.id).toBe(ID1);
    expect(after(plan, `/lib/${ID1}.json`)).toEqual({
      inferenceProvider: "gateway",
      inferenceGatewayBaseUrl: "https://acme.proxy.example.com/anthropic",
      inferenceGatewayAuthScheme: "bearer",
      inferenceCredentialKind: "helper-script",
      inferenceCredentialHelper: HELPER,
      inferenceCredentialHelperTtlSec: 300,
    });
    expect(after(plan, "/lib/_meta.json")).toEqual({ appliedId: ID1, entries: [{ id: ID1, name: "agent-runner-auth" }] });
    expect(plan.changes.every((c) => c.before === null)).toBe(true);
  });
  test("others' entries and members kept; ours found by name and updated in place; static key dropped", () => {
    const meta = { appliedId: OTHER, entries: [{ id: OTHER, name: "LiteLLM" }, { id: ID1, name: "agent-runner-auth" }], futureKey: 1 };
    const files = {
      "_meta.json": JSON.stringify(meta),
      [`${ID1}.json`]: JSON.stringify({ inferenceProvider: "gateway", inferenceCredentialHelper: "/old/agent-runner-auth-desktop-helper", inferenceGatewayApiKey: "sk-static", inferenceModels: ["claude-x"] }),
      [`${OTHER}.json`]: `{"inferenceProvider":"gateway"}`,
    };
    const plan = planDesktopConfig(library(files), "default", settings, () => ID2);
    expect(plan.id).toBe(ID1);
    expect(plan.previouslyApplied).toBe(OTHER);
    const entry = after(plan, `/lib/${ID1}.json`);
    expect(entry.inferenceModels).toEqual(["claude-x"]);
    expect(entry.inferenceCredentialHelper).toBe(HELPER);
    expect(entry.inferenceGatewayApiKey).toBeUndefined();
    expect(after(plan, "/lib/_meta.json")).toEqual({ ...meta, appliedId: ID1 });
    expect(plan.changes.some((c) => c.path.includes(OTHER))).toBe(false);
  });
  test("running it twice changes nothing", () => {
    const first = planDesktopConfig(library({}), "default", settings, () => ID1);
    const files = Object.fromEntries(first.changes.map((c) => [c.path.slice(5), c.after!]));
    expect(planDesktopConfig(library(files), "default", settings, () => ID2).changes).toEqual([]);
  });
  test("a profile gets its own entry beside the default one", () => {
    const first = planDesktopConfig(library({}), "default", settings, () => ID1);
    const files = Object.fromEntries(first.changes.map((c) => [c.path.slice(5), c.after!]));
    const plan = planDesktopConfig(library(files), "client-x", { ...settings, helperPath: "/h/agent-runner-auth-desktop-helper.client-x" }, () => ID2);
    expect(after(plan, "/lib/_meta.json").entries).toEqual([{ id: ID1, name: "agent-runner-auth" }, { id: ID2, name: entryName("client-x") }]);
  });
  test("an entry under our name with someone else's helper, a broken _meta.json: refused, untouched", () => {
    const theirs = { "_meta.json": JSON.stringify({ entries: [{ id: ID1, name: "agent-runner-auth" }] }), [`${ID1}.json`]: JSON.stringify({ inferenceCredentialHelper: "/opt/other-helper" }) };
    expect(() => planDesktopConfig(library(theirs), "default", settings, () => ID2)).toThrow(expect.objectContaining({ code: "desktop_config", exitCode: 5 }));
    expect(() => planDesktopConfig(library({ "_meta.json": "{nope" }), "default", settings, () => ID2)).toThrow(expect.objectContaining({ code: "bad_file", path: "/lib/_meta.json" }));
    expect(() => planDesktopConfig(library({ "_meta.json": `{"entries": 3}` }), "default", settings, () => ID2)).toThrow(expect.objectContaining({ code: "bad_file" }));
    expect(() => planDesktopConfig(library({}), "default", settings, () => "not-a-uuid")).toThrow(TypeError);
  });
});

describe("removal and doctor", () => {
  const installed = () => {
    const meta = { appliedId: OTHER, entries: [{ id: OTHER, name: "LiteLLM" }] };
    const plan = planDesktopConfig(library({ "_meta.json": JSON.stringify(meta) }), "default", settings, () => ID1);
    return Object.fromEntries(plan.changes.map((c) => [c.path.slice(5), c.after!]));
  };
  test("remove: our entry out, the applied one falls back to what remains; nothing when not ours", () => {
    const plan = planDesktopRemoval(library(installed()), "default")!;
    expect(after(plan, "/lib/_meta.json")).toEqual({ appliedId: OTHER, entries: [{ id: OTHER, name: "LiteLLM" }] });
    expect(plan.changes.find((c) => c.path === `/lib/${ID1}.json`)?.after).toBeNull();
    expect(planDesktopRemoval(library({}), "default")).toBeNull();
    const alone = planDesktopConfig(library({}), "default", settings, () => ID1);
    const onlyOurs = Object.fromEntries(alone.changes.map((c) => [c.path.slice(5), c.after!]));
    expect(after(planDesktopRemoval(library(onlyOurs), "default")!, "/lib/_meta.json")).toEqual({ entries: [] });
  });
  test("doctor: fine after setup; each drift one line with the fix", () => {
    const files = installed();
    expect(checkDesktopEntry(library(files), "default", settings, () => true)).toEqual([]);
    expect(checkDesktopEntry(library(files), "default", settings, () => false)[0]).toMatch(/does not exist\. Run: agent-runner-auth setup claude-desktop$/);
    const drifted = { ...files, [`${ID1}.json`]: JSON.stringify({ ...JSON.parse(files[`${ID1}.json`]!), inferenceCredentialHelperTtlSec: 3600, inferenceGatewayApiKey: "k", inferenceGatewayBaseUrl: "https://x" }) };
    const problems = checkDesktopEntry(library(drifted), "default", settings, () => true);
    expect(problems).toHaveLength(3);
    expect(problems.join("\n")).toMatch(/3600 s/);
    expect(checkDesktopEntry(library({}), "work", settings, () => true)).toEqual([`Claude Desktop has no "agent-runner-auth (work)" configuration. Run: agent-runner-auth setup claude-desktop --profile work`]);
  });
});
