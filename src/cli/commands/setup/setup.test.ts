import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exitCodeOf } from "../../errors.ts";
import { fakeContext, PROFILE } from "../../../../test/support/fake-context.ts";
import { run } from "./setup.ts";

const home = mkdtempSync(join(tmpdir(), "ara-setup-unit-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const settings = join(home, ".claude", "settings.json");

test("--dry-run prints the change as a diff on stdout and writes nothing", async () => {
  mkdirSync(join(home, ".claude"), { recursive: true });
  writeFileSync(settings, '{\n  "theme": "dark"\n}\n');
  const fake = fakeContext({ env: { HOME: home } });
  expect(await run(fake.ctx, { scope: "user", dryRun: true, remove: false })).toBe(0);
  const diff = fake.stdout.join("");
  expect(diff).toContain(`--- ${settings}\tcurrent`);
  expect(diff).toContain('+    "ANTHROPIC_BASE_URL": "https://acme.proxy.example.com/anthropic/v1"');
  expect(diff).toContain('+  "apiKeyHelper": "/opt/agent-runner-auth token"');
  expect(readFileSync(settings, "utf8")).toBe('{\n  "theme": "dark"\n}\n');
  expect(existsSync(`${settings}.agent-runner-auth.bak`)).toBe(false);
});

test("an API key in the environment is warned about; invalid JSON is exit 5 and left untouched", async () => {
  writeFileSync(settings, "{ not json");
  const fake = fakeContext({ env: { HOME: home, ANTHROPIC_API_KEY: "sk-x" } });
  const error = await run(fake.ctx, { scope: "user", dryRun: false, remove: false }).catch((e: unknown) => e);
  expect(exitCodeOf(error)).toBe(5);
  expect((error as Error).message).toContain("is not valid JSON");
  expect(readFileSync(settings, "utf8")).toBe("{ not json");
  writeFileSync(settings, "{}");
  await run(fake.ctx, { scope: "user", dryRun: true, remove: false });
  expect(fake.stderr[0]).toContain("warning: ANTHROPIC_API_KEY is set in your environment");
});

test("--status-line adds Claude Code's statusLine (this binary's usage --status-line, the profile) with the file's formatting kept; --remove takes it out only if ours", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-setup-statusline-"));
  const file = join(dir, ".claude", "settings.json");
  mkdirSync(join(dir, ".claude"), { recursive: true });
  writeFileSync(file, '{\n    "theme": "dark"\n}\n');
  const fake = fakeContext({ env: { HOME: dir } });
  expect(await run(fake.ctx, { scope: "user", dryRun: false, remove: false, statusLine: true })).toBe(0);
  const text = readFileSync(file, "utf8");
  expect(JSON.parse(text).statusLine).toEqual({ type: "command", command: "/opt/agent-runner-auth usage --status-line" });
  expect(text).toContain('\n    "theme": "dark"');
  // twice: nothing changes
  expect(await run(fake.ctx, { scope: "user", dryRun: false, remove: false, statusLine: true })).toBe(0);
  expect(readFileSync(file, "utf8")).toBe(text);
  expect(await run(fake.ctx, { scope: "user", dryRun: false, remove: true })).toBe(0);
  expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ theme: "dark" });
  // someone else's status line stays
  writeFileSync(file, '{\n  "statusLine": { "type": "command", "command": "~/bin/my-line" }\n}\n');
  expect(await run(fake.ctx, { scope: "user", dryRun: false, remove: true })).toBe(0);
  expect(JSON.parse(readFileSync(file, "utf8")).statusLine.command).toBe("~/bin/my-line");
  rmSync(dir, { recursive: true, force: true });
});

test("a profile made with --issuer (no tenant URL): --base-url gives the gateway's address; without it, exit 5 naming the option; plain http off loopback refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ara-setup-baseurl-"));
  const file = join(dir, ".claude", "settings.json");
  const { tenant: _tenant, ...issuerOnly } = PROFILE;
  const fake = fakeContext({ env: { HOME: dir }, profile: issuerOnly });
  const missing = await run(fake.ctx, { scope: "user", dryRun: false, remove: false }).catch((e: unknown) => e);
  expect(exitCodeOf(missing)).toBe(5);
  expect((missing as { hint?: string }).hint).toContain("setup claude --base-url https://");
  expect(existsSync(file)).toBe(false);
  const insecure = await run(fake.ctx, { scope: "user", dryRun: false, remove: false, baseUrl: "http://gateway.example.com/anthropic/v1" }).catch((e: unknown) => e);
  expect(exitCodeOf(insecure)).toBe(2);
  expect(existsSync(file)).toBe(false);
  expect(await run(fake.ctx, { scope: "user", dryRun: false, remove: false, baseUrl: "https://gw.example.com/anthropic/v1/" })).toBe(0);
  expect(JSON.parse(readFileSync(file, "utf8")).env.ANTHROPIC_BASE_URL).toBe("https://gw.example.com/anthropic/v1");
  rmSync(dir, { recursive: true, force: true });
});
