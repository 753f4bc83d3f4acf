/**
 * The local tenant's IdP offboards like a Cognito pool (issue 18 §2): revoking a refresh token,
 * a global sign-out and disabling a user each make `/oauth2/userInfo` answer 401 for the access
 * tokens concerned (the signal the gateway's revalidation acts on), while every other sign-in
 * keeps working. Driven over HTTP against the real tenant process and its `/_admin` plane.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTenant, type TenantProcess } from "../support/tenant.ts";
import { authorizeUrl, CookieJarBrowser, exchangeCode, refreshWorks, revoke, userInfoStatus } from "../support/idp-session-client.ts";
import { EMAIL_SIGN_IN_USER, EXAMPLE_CORP } from "../../src/tenant/idp.ts";

let tenant: TenantProcess;
const USERS = { demo: "demo-password-1", carol: "carol-password-1", dave: "dave-password-1" };

beforeAll(async () => {
  tenant = await startTenant(["--user", "demo:demo-password-1:developers", "--user", "carol:carol-password-1:contractors", "--user", "dave:dave-password-1:developers,platform"]);
});
afterAll(async () => {
  await tenant?.stop();
});

const callbackUri = () => `http://localhost:${tenant.redirectPorts[0]}/callback`;

/** Signs in on the hosted page in `browser` (a new one by default); the page when it did not land on the callback. */
async function signIn(login: keyof typeof USERS | string, password: string, browser = new CookieJarBrowser()) {
  const auth = authorizeUrl(tenant.issuer, tenant.client_id, callbackUri());
  let landed = await browser.get(auth.url);
  if (landed.url.pathname !== "/callback") landed = await browser.submit(landed, { username: login, password });
  if (landed.url.pathname !== "/callback") return { browser, page: landed, tokens: undefined };
  return { browser, page: landed, tokens: await exchangeCode(tenant.issuer, tenant.client_id, auth, landed.url) };
}

async function signedIn(login: keyof typeof USERS) {
  const { browser, tokens } = await signIn(login, USERS[login]);
  if (!tokens) throw new Error(`${login} could not sign in`);
  return { browser, ...tokens };
}

const userInfo = (accessToken: string) => userInfoStatus(tenant.issuer, accessToken);
const refreshes = (refreshToken: string) => refreshWorks(tenant.issuer, tenant.client_id, refreshToken);

describe("refresh-token revocation (/oauth2/revoke)", () => {
  test("userInfo refuses the access token of that sign-in only", async () => {
    const first = await signedIn("demo");
    const second = await signedIn("demo");
    expect(await userInfo(first.accessToken)).toBe(200);
    expect(await revoke(tenant.issuer, tenant.client_id, first.refreshToken)).toBe(200);
    expect(await userInfo(first.accessToken)).toBe(401);
    expect(await refreshes(first.refreshToken)).toBe(false);
    expect(await userInfo(second.accessToken)).toBe(200);
    expect(await refreshes(second.refreshToken)).toBe(true);
  });
});

describe("global sign-out (AdminUserGlobalSignOut)", () => {
  test("every sign-in of the person ends: userInfo 401, no refresh; others untouched; a new sign-in works", async () => {
    const a = await signedIn("carol");
    const b = await signedIn("carol");
    const other = await signedIn("demo");
    expect(await tenant.userAction("carol", "global-sign-out")).toBe(204);
    expect(await userInfo(a.accessToken)).toBe(401);
    expect(await userInfo(b.accessToken)).toBe(401);
    expect(await refreshes(a.refreshToken)).toBe(false);
    expect(await refreshes(b.refreshToken)).toBe(false);
    expect(await userInfo(other.accessToken)).toBe(200);
    // as in Cognito, the hosted-login session survives a global sign-out: the next sign-in is silent and works
    const again = await signIn("carol", USERS.carol, a.browser);
    expect(again.tokens?.access.username).toBe("carol");
    expect(await userInfo(again.tokens!.accessToken)).toBe(200);
    expect(await userInfo(a.accessToken)).toBe(401);
  });

  test("the email of an email-sign-in user names the account too", async () => {
    expect(await tenant.userAction(EMAIL_SIGN_IN_USER.email!, "global-sign-out")).toBe(204);
  });
});

describe("disable (AdminDisableUser) and enable", () => {
  test("a disabled person cannot sign in, silently or with the form, nor refresh; their tokens are refused; enable lets them back with new tokens only", async () => {
    const before = await signedIn("dave");
    expect(await tenant.userAction("dave", "disable")).toBe(204);
    expect(await userInfo(before.accessToken)).toBe(401);
    expect(await refreshes(before.refreshToken)).toBe(false);
    // the browser's hosted-login session is gone: the form is shown, and refuses
    const attempt = await signIn("dave", USERS.dave, before.browser);
    expect(attempt.tokens).toBeUndefined();
    expect(attempt.page.html).toContain("User is disabled.");
    expect(await tenant.userAction("dave", "enable")).toBe(204);
    const after = await signedIn("dave");
    expect(await userInfo(after.accessToken)).toBe(200);
    expect(await userInfo(before.accessToken)).toBe(401);
    expect(await refreshes(before.refreshToken)).toBe(false);
  });

  test("a disabled federated user is refused after the corporate IdP vouched for them", async () => {
    const alice = EXAMPLE_CORP.users[0]!;
    expect(await tenant.userAction(`ExampleCorp_${alice.userId}`, "disable")).toBe(204);
    const browser = new CookieJarBrowser();
    const corp = await browser.get(authorizeUrl(tenant.issuer, tenant.client_id, callbackUri(), { identity_provider: "ExampleCorp" }).url);
    const landed = await browser.submit(corp, { username: alice.userId, password: alice.password });
    expect(landed.url.pathname).not.toBe("/callback");
    expect(landed.html).toContain("User is disabled.");
    expect(await tenant.userAction(`ExampleCorp_${alice.userId}`, "enable")).toBe(204);
  });

  test("an unknown user is Cognito's UserNotFoundException (404); other verbs are not routes", async () => {
    expect(await tenant.userAction("nobody", "disable")).toBe(404);
    const wrong = await fetch(`${tenant.admin}/users/demo/delete`, { method: "POST" });
    expect(wrong.status).toBe(404);
    const get = await fetch(`${tenant.admin}/users/demo/disable`);
    expect(get.status).toBe(404);
    expect(await userInfo((await signedIn("demo")).accessToken)).toBe(200);
  });
});
