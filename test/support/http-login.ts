import { createHash, randomBytes } from "node:crypto";

/**
 * Signs in on the tenant's login page over plain HTTP (like the scripted browser) but stops at
 * the final redirect and returns its address, as a person on another machine would copy it from
 * the address bar after the browser failed to reach localhost.
 */
export async function signInAndCaptureRedirect(authorizeUrl: string, username: string, password: string, isCallback = (u: URL) => u.pathname === "/callback"): Promise<string> {
  const cookies = new Map<string, string>();
  const send = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") } });
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(";");
      const eq = pair!.indexOf("=");
      cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    return response;
  };
  let url = authorizeUrl;
  let response = await send(url);
  while (response.status >= 300 && response.status < 400) {
    url = new URL(response.headers.get("location")!, url).href;
    response = await send(url);
  }
  const action = /<form[^>]*action="([^"]+)"/.exec(await response.text())?.[1];
  if (!action) throw new Error("no login form");
  url = new URL(action.replaceAll("&amp;", "&"), url).href;
  response = await send(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ username, password }).toString() });
  for (;;) {
    const location = response.headers.get("location");
    if (!location) throw new Error(`sign-in ended without a redirect (HTTP ${response.status})`);
    const next = new URL(location, url);
    if (isCallback(next)) return next.href;
    url = next.href;
    response = await send(url);
  }
}

/**
 * An access token from the local tenant's IdP for one of its users, as the CLI gets one: the
 * real login page, then the authorization-code grant with PKCE (no CLI, no fixed ports).
 * `client`: another app client of the tenant (the admin console's) instead of the CLI's.
 */
export async function tenantAccessToken(tenant: { issuer: string; client_id: string; redirectPorts: number[] }, username: string, password: string, client?: { clientId: string; redirectUri: string }): Promise<string> {
  const verifier = randomBytes(32).toString("base64url");
  const redirectUri = client?.redirectUri ?? `http://localhost:${tenant.redirectPorts[0]}/callback`;
  const clientId = client?.clientId ?? tenant.client_id;
  const authorize = new URL(`${tenant.issuer}/oauth2/authorize`);
  const params = { response_type: "code", client_id: clientId, redirect_uri: redirectUri, scope: "openid email profile", state: "s", code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256" };
  for (const [k, v] of Object.entries(params)) authorize.searchParams.set(k, v);
  const callbackPath = new URL(redirectUri).pathname;
  const code = new URL(await signInAndCaptureRedirect(authorize.href, username, password, (u) => u.pathname === callbackPath)).searchParams.get("code");
  if (!code) throw new Error("the sign-in returned no code");
  const response = await fetch(`${tenant.issuer}/oauth2/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier }).toString() });
  if (response.status !== 200) throw new Error(`the token endpoint answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
