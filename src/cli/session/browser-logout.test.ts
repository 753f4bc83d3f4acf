import { expect, test } from "bun:test";
import { fakeContext, PROFILE } from "../../../test/support/fake-context.ts";
import { endBrowserSession, poolLogoutUrl } from "./browser-logout.ts";

test("the pool's /logout URL: end_session_endpoint when announced, else /logout on the hosted domain", () => {
  expect(poolLogoutUrl({ ...PROFILE, endpoints: { ...PROFILE.endpoints, endSession: "https://idp.example.com/pool/logout" } }, "http://localhost:53682/logged-out").href).toBe(
    "https://idp.example.com/pool/logout?client_id=client-1&logout_uri=http%3A%2F%2Flocalhost%3A53682%2Flogged-out",
  );
  expect(poolLogoutUrl(PROFILE, "http://localhost:1/logged-out").pathname).toBe("/logout");
});

test("no browser here: the profile records the logout, so the next sign-in sends prompt=login", async () => {
  const fake = fakeContext({ profile: { ...PROFILE, logoutUris: ["http://localhost:53682/logged-out"] } });
  await endBrowserSession(fake.ctx, fake.profiles.get("default")!);
  expect(fake.profiles.get("default")?.loggedOut).toBe(true);
});

test("a browser that reaches the loopback logged-out page: the hosted session is ended, nothing recorded", async () => {
  const port = 20000 + Math.floor(Math.random() * 12000) /* below the ephemeral range */;
  const fake = fakeContext({ blocker: null, profile: { ...PROFILE, logoutUris: [`http://localhost:${port}/logged-out`] } });
  const opened: string[] = [];
  fake.ctx.browser = {
    open: async (url) => {
      opened.push(url);
      // The pool would redirect there after ending its session; the "browser" goes straight on.
      const page = await fetch(new URL(url).searchParams.get("logout_uri")!);
      expect(await page.text()).toContain("Signed out");
      return true;
    },
  };
  await endBrowserSession(fake.ctx, fake.profiles.get("default")!, { waitMs: 5000 });
  expect(opened[0]).toStartWith("https://idp.example.com/logout?client_id=client-1&logout_uri=");
  expect(fake.profiles.get("default")?.loggedOut).toBeUndefined();
  expect(fake.stderr).toEqual(["Signed out of the sign-in page in your browser too."]);
});

test("a browser that never comes back: recorded after the wait", async () => {
  const port = 20000 + Math.floor(Math.random() * 12000) /* below the ephemeral range */;
  const fake = fakeContext({ blocker: null, profile: { ...PROFILE, logoutUris: [`http://localhost:${port}/logged-out`] } });
  fake.ctx.browser = { open: async () => true };
  await endBrowserSession(fake.ctx, fake.profiles.get("default")!, { waitMs: 200 });
  expect(fake.profiles.get("default")?.loggedOut).toBe(true);
});
