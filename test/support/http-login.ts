/**
 * Signs in on the tenant's login page over plain HTTP (like the scripted browser) but stops at
 * the final redirect and returns its address, as a person on another machine would copy it from
 * the address bar after the browser failed to reach localhost.
 */
export async function signInAndCaptureRedirect(authorizeUrl: string, username: string, password: string): Promise<string> {
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
    if (next.pathname === "/callback") return next.href;
    url = next.href;
    response = await send(url);
  }
}
