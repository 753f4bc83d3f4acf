/**
 * Logout ends the hosted sign-in too (issue 11, section 3). Revoking the refresh token leaves the
 * pool's session cookie in the browser, so the next login would sign the same person in without
 * a form. Two remedies, both applied:
 *  - with a browser here and a registered loopback logout URI, open the pool's
 *    `/logout?client_id=..&logout_uri=..`, served back by a short-lived listener;
 *  - unless the browser was seen reaching that page, the profile records `loggedOut`, and the
 *    next sign-in sends `prompt=login` (the form is shown whatever the cookie says).
 */
import type { CommandContext } from "../context.ts";
import type { Profile } from "../config.ts";

/** How long `logout` waits for the browser to come back from the pool's /logout. */
export const BROWSER_LOGOUT_WAIT_MS = 20_000;

type Ports = Pick<CommandContext, "profileName" | "profiles" | "browser" | "terminal" | "say" | "verbose">;

/** The pool's logout endpoint: discovery's end_session_endpoint, else `/logout` on the hosted domain. */
export function poolLogoutUrl(profile: Pick<Profile, "endpoints" | "clientId">, logoutUri: string): URL {
  const url = new URL(profile.endpoints.endSession ?? new URL("/logout", profile.endpoints.authorization).href);
  url.search = new URLSearchParams({ client_id: profile.clientId, logout_uri: logoutUri }).toString();
  return url;
}

/** Ends the browser's hosted session when it can; otherwise makes the next sign-in show the form. */
export async function endBrowserSession(ports: Ports, profile: Profile, options: { waitMs?: number } = {}): Promise<void> {
  const ended = await openPoolLogout(ports, profile, options.waitMs ?? BROWSER_LOGOUT_WAIT_MS);
  if (ended) {
    ports.say("Signed out of the sign-in page in your browser too.");
    return;
  }
  await ports.profiles.write(ports.profileName, { ...profile, loggedOut: true });
  ports.verbose("the next sign-in sends prompt=login: the form is shown even if the browser remembers someone");
}

async function openPoolLogout(ports: Ports, profile: Profile, waitMs: number): Promise<boolean> {
  if (!profile.logoutUris?.length) return false;
  const blocker = ports.terminal.interactiveLoginBlocker();
  if (blocker) {
    ports.verbose(`not opening the pool's logout page: ${blocker}`);
    return false;
  }
  const { listenForLogout } = await import("../oauth/logout-listener.ts");
  const listener = listenForLogout(profile.logoutUris);
  if (!listener) return false;
  try {
    const url = poolLogoutUrl(profile, listener.logoutUri);
    const { checkEndpointUrl } = await import("../../shared/endpoint-policy.ts");
    checkEndpointUrl("the pool's logout endpoint", url.href); // never open javascript:, file: or a remote http:
    if (!(await ports.browser.open(url.href))) return false;
    ports.verbose("opened the pool's logout page; waiting for the browser to come back");
    return await listener.reached(waitMs);
  } catch (e) {
    ports.verbose(`could not sign out in the browser: ${(e as Error).message}`);
    return false;
  } finally {
    listener.close();
  }
}
