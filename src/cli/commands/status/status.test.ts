import { expect, test } from "bun:test";
import { fakeContext, accessRecord, NOW, refreshRecord } from "../../../../test/support/fake-context.ts";
import { run } from "./status.ts";

// An ID token whose payload names the user (the signature is not checked for display).
const idToken = `x.${Buffer.from(JSON.stringify({ "cognito:username": "jdoe", email: "jdoe@example.com", "cognito:groups": ["devs"] })).toString("base64url")}.y`;

test("status --json: the report on stdout, exit 0 with a usable session", async () => {
  const fake = fakeContext();
  fake.stores.file.values.set("access", accessRecord("a", NOW + 60_000));
  fake.stores.file.values.set("refresh", refreshRecord("r"));
  fake.stores.file.values.set("id", idToken);
  expect(await run(fake.ctx, { store: undefined, json: true })).toBe(0);
  const report = JSON.parse(fake.stdout.join(""));
  expect(report).toMatchObject({ profile: "default", tenant: "https://acme.proxy.example.com", email: "jdoe@example.com", groups: ["devs"], access_token_valid: true, refresh_token_present: true, logged_in: true, store: "file" });
  expect(report.access_token_expires_at).toBe(new Date(NOW + 60_000).toISOString());
});

test("status without a session: exit 1, the human report on stderr says what to run", async () => {
  const fake = fakeContext();
  expect(await run(fake.ctx, { store: undefined, json: false })).toBe(1);
  expect(fake.stdout).toEqual([]);
  expect(fake.stderr[0]).toBe('Profile "default": not logged in');
  expect(fake.stderr.at(-1)).toBe("Run: agent-runner-auth login");
});

test("--store overrides the profile's store", async () => {
  const fake = fakeContext();
  fake.stores.pass.values.set("access", accessRecord("a", NOW + 60_000));
  expect(await run(fake.ctx, { store: "pass", json: true })).toBe(0);
  expect(JSON.parse(fake.stdout.join("")).store).toBe("pass");
});

test("after refresh-token rotations: the sign-in time and the session's real end (sign-in + lifetime), not the last rotation's", async () => {
  const fake = fakeContext();
  const signedInAt = NOW - 10 * 86_400_000;
  fake.stores.file.values.set("refresh", JSON.stringify({ token: "rotated", issuedAt: NOW - 60_000, signedInAt, expiresAt: signedInAt + 30 * 86_400_000 }));
  expect(await run(fake.ctx, { store: undefined, json: true })).toBe(0);
  expect(JSON.parse(fake.stdout.join(""))).toMatchObject({ signed_in_at: new Date(signedInAt).toISOString(), refresh_token_expires_at: new Date(signedInAt + 30 * 86_400_000).toISOString() });
  expect(await run(fake.ctx, { store: undefined, json: false })).toBe(0);
  expect(fake.stderr).toContain(`  Signed in      10 d 0 h ago (${new Date(signedInAt).toISOString()})`);
  expect(fake.stderr).toContain(`  Refresh token  expires in 20 d 0 h (${new Date(signedInAt + 30 * 86_400_000).toISOString()})`);
});
