import { expect, test } from "bun:test";
import { chooseProfile, findDirectoryProfile } from "./directory-profile.ts";
import { SurfacesError } from "./errors.ts";
import type { ReadText } from "./ports.ts";

function fs(files: Record<string, string | Error>, dirs: string[] = []) {
  const reads: string[] = [];
  const readText: ReadText = (path, { trusted }) => {
    expect(trusted).toBe(false);
    reads.push(path);
    const v = files[path];
    if (v instanceof Error) throw v;
    return v ?? null;
  };
  return { readText, exists: (p: string) => dirs.includes(p), reads };
}
const base = { env: {}, platform: "linux" as const, flag: undefined };

test("precedence: flag > env > directory file > default", async () => {
  const f = fs({ "/r/.agent-runner-auth": `{"profile":"client-x"}` });
  expect((await chooseProfile({ ...base, ...f, cwd: "/r", flag: "f" })).source).toEqual({ kind: "flag" });
  expect(await chooseProfile({ ...base, ...f, cwd: "/r", env: { AGENT_RUNNER_PROFILE: "e" } })).toMatchObject({ profile: "e", source: { kind: "env" } });
  expect(await chooseProfile({ ...base, ...f, cwd: "/r/src/deep" })).toEqual({ profile: "client-x", source: { kind: "file", path: "/r/.agent-runner-auth" }, sentence: `profile "client-x" (from /r/.agent-runner-auth)` });
  expect((await chooseProfile({ ...base, ...fs({}), cwd: "/r" })).profile).toBe("default");
});

test("the nearest directory wins; in one directory the file, then settings.local, then settings", async () => {
  const f = fs({
    "/r/.agent-runner-auth": `{"profile":"outer"}`,
    "/r/sub/.claude/settings.json": `// c\n{"env":{"AGENT_RUNNER_PROFILE":"proj",},}`,
    "/r/sub/.claude/settings.local.json": `{"env":{"AGENT_RUNNER_PROFILE":"mine"}}`,
  });
  expect(await findDirectoryProfile("/r/sub/x", "linux", f.readText, f.exists)).toEqual({ profile: "mine", path: "/r/sub/.claude/settings.local.json" });
  const g = fs({ "/r/sub/.claude/settings.json": `{"env":{"AGENT_RUNNER_PROFILE":"proj"}}`, "/r/sub/.claude/settings.local.json": `{"env":{}}` });
  expect(await findDirectoryProfile("/r/sub", "linux", g.readText, g.exists)).toEqual({ profile: "proj", path: "/r/sub/.claude/settings.json" });
});

test("the walk stops at the repository root (after checking it) and at /", async () => {
  const f = fs({ "/home/u/.agent-runner-auth": `{"profile":"above-repo"}` }, ["/home/u/repo/.git"]);
  expect(await findDirectoryProfile("/home/u/repo/a/b", "linux", f.readText, f.exists)).toBeNull();
  expect(f.reads).toContain("/home/u/repo/.agent-runner-auth");
  expect(f.reads).not.toContain("/home/u/.agent-runner-auth");
  const g = fs({});
  expect(await findDirectoryProfile("/a/b", "linux", g.readText, g.exists)).toBeNull();
  expect(g.reads.filter((r) => r.endsWith(".agent-runner-auth"))).toEqual(["/a/b/.agent-runner-auth", "/a/.agent-runner-auth", "/.agent-runner-auth"]);
  const w = fs({ "C:\\r\\.agent-runner-auth": `{"profile":"win"}` });
  expect(await findDirectoryProfile("C:\\r\\x", "win32", w.readText, w.exists)).toEqual({ profile: "win", path: "C:\\r\\.agent-runner-auth" });
});

test("bad files are clear errors naming the file; a bare name line is not the format", async () => {
  for (const [text, re] of [["client-x\n", /not valid JSON/], [`{"profile":"../etc"}`, /must be a profile name/], [`{"name":"x"}`, /"profile" must be/]] as const) {
    const f = fs({ "/r/.agent-runner-auth": text });
    const e = (await findDirectoryProfile("/r", "linux", f.readText, f.exists).catch((x: unknown) => x)) as SurfacesError;
    expect(e).toBeInstanceOf(SurfacesError);
    expect(e.code).toBe("bad_file");
    expect(e.message).toContain("/r/.agent-runner-auth");
    expect(e.message).toMatch(re);
  }
  const s = fs({ "/r/.claude/settings.json": `{"env":{"AGENT_RUNNER_PROFILE":7}}` });
  await expect(findDirectoryProfile("/r", "linux", s.readText, s.exists)).rejects.toMatchObject({ code: "bad_file", path: "/r/.claude/settings.json" });
  await expect(chooseProfile({ ...base, ...fs({}), cwd: "/r", env: { AGENT_RUNNER_PROFILE: "a b" } })).rejects.toMatchObject({ code: "bad_env" });
});

test("a symlink refusal from the reader stops the walk with that error", async () => {
  const link = new SurfacesError("unsafe_path", "refusing to read /r/.agent-runner-auth: it is a symbolic link");
  const f = fs({ "/r/.agent-runner-auth": link });
  await expect(findDirectoryProfile("/r", "linux", f.readText, f.exists)).rejects.toBe(link);
});

test("a symlinked Claude settings file is skipped, not fatal (a repository's link must not stop every command there)", async () => {
  const link = new SurfacesError("unsafe_path", "refusing to read /r/.claude/settings.json: it is a symbolic link", "Replace it.");
  const f = fs({ "/r/.claude/settings.json": link, "/.claude/settings.json": '{"env": {"AGENT_RUNNER_PROFILE": "outer"}}' });
  expect(await findDirectoryProfile("/r", "linux", f.readText, f.exists)).toEqual({ profile: "outer", path: "/.claude/settings.json" });
  // other read failures still stop with their message
  const g = fs({ "/r/.claude/settings.json": new SurfacesError("unreadable_file", "cannot read /r/.claude/settings.json: EACCES", "Check the file's permissions.") });
  expect(((await findDirectoryProfile("/r", "linux", g.readText, g.exists).catch((x: unknown) => x)) as SurfacesError).code).toBe("unreadable_file");
});
