/**
 * A cookie-keeping HTTP "browser" for the local tenant's hosted sign-in, and the few OAuth calls
 * a test needs around it (authorize URL with PKCE, code exchange, revocation). It follows
 * redirects like a browser but stops at the loopback addresses (callback, logged-out), which
 * no one serves in these tests.
 */
import { createHash, randomBytes } from "node:crypto";
import { decodeJwt } from "jose";

export interface Landing {
  url: URL;
  status: number;
  html: string;
}

export class CookieJarBrowser {
  private readonly cookies = new Map<string, string>();

  cookieNames(): string[] {
    return [...this.cookies.keys()];
  }

  private async send(url: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers as Record<string, string>), cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ") } });
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || pair!.slice(eq + 1).trim() === "";
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1).trim());
    }
    return response;
  }

  /** Follows redirects from `response` until a page, or a redirect to localhost (the CLI's listener). */
  private async follow(url: string, response: Response): Promise<Landing> {
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || !location) return { url: new URL(url), status: response.status, html: await response.text() };
      const next = new URL(location, url);
      if (next.hostname === "localhost") return { url: next, status: 0, html: "" };
      url = next.href;
      response = await this.send(url);
    }
    throw new Error("too many redirects");
  }

  async get(url: string): Promise<Landing> {
    return this.follow(url, await this.send(url));
  }

  /** Submits the page's form with these fields. */
  async submit(page: Landing, fields: Record<string, string>): Promise<Landing> {
    const action = formAction(page.html);
    const url = new URL(action, page.url).href;
    const response = await this.send(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
    return this.follow(url, response);
  }
}

export function formAction(html: string): string {
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`no sign-in form on the page: ${html.slice(0, 300)}`);
  return action.replaceAll("&amp;", "&");
}

/** The value the page's username field is pre-filled with. */
export const usernameValue = (html: string): string | undefined => /<input name="username" id="username" value="([^"]*)"/.exec(html)?.[1]?.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));

export interface Authorization {
  url: string;
  verifier: string;
  redirectUri: string;
}

export function authorizeUrl(issuer: string, clientId: string, redirectUri: string, extra: Record<string, string> = {}): Authorization {
  const verifier = randomBytes(32).toString("base64url");
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: "code",
    redirect_uri: redirectUri,
    scope: "openid email profile",
    state: randomBytes(8).toString("hex"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    ...extra,
  });
  return { url: `${issuer}/oauth2/authorize?${query}`, verifier, redirectUri };
}

export interface Tokens {
  /** The access token itself (for userInfo and the gateway). */
  accessToken: string;
  access: Record<string, unknown>;
  id: Record<string, unknown>;
  refreshToken: string;
}

export async function exchangeCode(issuer: string, clientId: string, auth: Authorization, callback: URL): Promise<Tokens> {
  const code = callback.searchParams.get("code");
  if (!code) throw new Error(`no code in ${callback.href}`);
  const response = await fetch(`${issuer}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code, redirect_uri: auth.redirectUri, code_verifier: auth.verifier }).toString(),
  });
  const body = (await response.json()) as { access_token: string; id_token: string; refresh_token: string };
  if (!response.ok) throw new Error(`token endpoint ${response.status}: ${JSON.stringify(body)}`);
  return { accessToken: body.access_token, access: decodeJwt(body.access_token), id: decodeJwt(body.id_token), refreshToken: body.refresh_token };
}

export async function revoke(issuer: string, clientId: string, refreshToken: string): Promise<number> {
  const response = await fetch(`${issuer}/oauth2/revoke`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: refreshToken, client_id: clientId }).toString(),
  });
  return response.status;
}

/** The status of the issuer's userInfo for this access token (200, or 401 once Cognito would refuse it). */
export async function userInfoStatus(issuer: string, accessToken: string): Promise<number> {
  const response = await fetch(`${issuer}/oauth2/userInfo`, { headers: { authorization: `Bearer ${accessToken}` } });
  await response.body?.cancel();
  return response.status;
}

/** Whether a refresh token still works at the token endpoint. */
export async function refreshWorks(issuer: string, clientId: string, refreshToken: string): Promise<boolean> {
  const response = await fetch(`${issuer}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: clientId, refresh_token: refreshToken }).toString(),
  });
  return response.ok;
}
