import { expect, test } from "bun:test";
import { accessRecord, fakeContext, NOW, refreshRecord } from "../../../../test/support/fake-context.ts";
import { run, runChecks } from "./doctor.ts";

test("no profile: the profile check fails with the login command as its fix; later checks are skipped", async () => {
  const fake = fakeContext({ profile: null });
  const checks = await runChecks(fake.ctx);
  expect(checks.find((c) => c.name === "profile")).toEqual({ name: "profile", verdict: "fail", detail: 'no profile "default"', fix: "agent-runner-auth login <tenant URL>" });
  expect(checks.find((c) => c.name === "store")?.verdict).toBe("skip");
  expect(fake.calls).toEqual([]);
});

test("an API key in the environment fails with how to unset it; --json reports ok: false; exit 1", async () => {
  const fake = fakeContext({
    env: { ANTHROPIC_API_KEY: "sk-ant-x", HOME: "/nonexistent-home" },
    oauth: { fetch: async () => new Response("{}", { status: 200, headers: { date: new Date(NOW).toUTCString() } }) },
  });
  fake.stores.file.values.set("access", accessRecord("a", NOW + 60 * 60_000));
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  expect(await run(fake.ctx, { json: true })).toBe(1);
  const report = JSON.parse(fake.stdout.join(""));
  expect(report.ok).toBe(false);
  const env = report.checks.find((c: { name: string }) => c.name === "environment");
  expect(env).toEqual({ name: "environment", verdict: "fail", detail: "ANTHROPIC_API_KEY is set and overrides the apiKeyHelper", fix: "unset ANTHROPIC_API_KEY (and remove it from your shell profile)" });
  expect(report.checks.find((c: { name: string }) => c.name === "identity provider")).toMatchObject({ verdict: "pass", detail: expect.stringContaining("clock skew +0 s") });
  expect(report.checks.find((c: { name: string }) => c.name === "proxy")).toMatchObject({ verdict: "pass" });
});

test("human output: each failure is followed by its fix, on stderr, no colour without a terminal", async () => {
  const fake = fakeContext({ profile: null });
  expect(await run(fake.ctx, { json: false })).toBe(1);
  const profileLine = fake.stderr.findIndex((l) => l.startsWith("✗ profile"));
  expect(profileLine).toBeGreaterThanOrEqual(0);
  expect(fake.stderr[profileLine + 1]).toMatch(/^ +fix: agent-runner-auth login <tenant URL>$/);
  expect(fake.stderr.join("\n")).not.toContain("\x1b[");
});
