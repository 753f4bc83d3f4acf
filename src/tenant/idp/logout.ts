/**
 * Cognito's logout endpoint (`GET /<poolId>/logout`), not OpenID RP-initiated logout:
 *   - `?client_id=..&logout_uri=..` ends the hosted-login session and redirects to logout_uri,
 *     which must be one of the app client's sign-out URLs exactly;
 *   - `?client_id=..&redirect_uri=..&response_type=code&...` ends it and starts a new sign-in
 *     (the authorize endpoint checks redirect_uri).
 * Anything else is refused with Cognito's error names, and the session is left alone.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import type { IdpStats } from "./admin.ts";
import { escapeHtml, HTML, redirect, send } from "./http.ts";

export interface LogoutDeps {
  provider(): Provider;
  prefix: string;
  clientId: string;
  logoutUris: string[];
  /** Other app clients (the console) and their sign-out URLs. */
  otherClients?: Record<string, string[]>;
  stats: IdpStats;
}

function refuse(res: ServerResponse, error: string, description: string): void {
  send(res, 400, HTML, `<!doctype html><title>Error</title><h1>Sign-out error</h1><p id="error">${escapeHtml(error)}: ${escapeHtml(description)}</p>`);
}

export async function handleLogout(deps: LogoutDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (req.method !== "GET") return send(res, 405, "text/plain", "method not allowed", { allow: "GET" });
  const q = url.searchParams;
  const clientId = q.get("client_id");
  if (!clientId) return refuse(res, "invalid_request", "client_id is required");
  const logoutUris = clientId === deps.clientId ? deps.logoutUris : Object.hasOwn(deps.otherClients ?? {}, clientId) ? (deps.otherClients?.[clientId] ?? []) : undefined;
  if (!logoutUris) return refuse(res, "invalid_client", "unknown client_id");
  const logoutUri = q.get("logout_uri");
  let next: string;
  if (logoutUri !== null) {
    if (!logoutUris.includes(logoutUri)) return refuse(res, "redirect_mismatch", "logout_uri is not a sign-out URL of this app client");
    next = logoutUri;
  } else if (q.get("redirect_uri") !== null && q.get("response_type") !== null) {
    next = `${deps.prefix}/oauth2/authorize?${q}`;
  } else {
    return refuse(res, "invalid_request", "logout_uri (or redirect_uri and response_type) is required");
  }
  await endSession(deps, req, res);
  redirect(res, next);
}

async function endSession(deps: LogoutDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const provider = deps.provider();
  // Session.get reads the signed session cookie the way the authorize endpoint does.
  const session = await provider.Session.get({ req, res } as never);
  if (session.accountId) {
    deps.stats.logouts++;
    await session.destroy();
  }
  const name = provider.cookieName("session");
  res.setHeader(
    "set-cookie",
    [name, `${name}.sig`].map((n) => `${n}=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax`),
  );
}
