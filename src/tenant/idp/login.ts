/**
 * The pool's hosted sign-in page (`/<poolId>/login/<uid>`, oidc-provider's interaction): the
 * username/password form (pre-filled from `login_hint`), or straight on to a federated IdP when
 * the authorize request named one (`identity_provider`, `idp_identifier`), and the return from
 * that IdP (`/<poolId>/login/<uid>/idpresponse`, under the interaction cookie's path).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import { renderLoginPage } from "../login-page.ts";
import type { Account, AccountDirectory } from "./accounts.ts";
import type { CorporateIdps } from "./federation.ts";
import { HTML, readBody, redirect, send } from "./http.ts";

export interface LoginDeps {
  provider(): Provider;
  accounts: AccountDirectory;
  corporate: CorporateIdps;
  prefix: string;
}

const EXPIRED = "This sign-in link has expired. Start again from the application.";
/** Cognito's words for an identity provider the app client does not offer. */
const UNKNOWN_IDP = "Login option is not available. Please try another one.";
/** Cognito's words for a disabled user's sign-in (AdminDisableUser). */
const DISABLED = "User is disabled.";

const param = (params: Record<string, unknown>, name: string): string | undefined => (typeof params[name] === "string" && params[name] !== "" ? (params[name] as string) : undefined);

export async function handleLogin(deps: LoginDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  let details;
  try {
    details = await deps.provider().interactionDetails(req, res);
  } catch {
    return send(res, 400, HTML, renderLoginPage({ error: EXPIRED }));
  }
  const base = `${deps.prefix}/login/${details.uid}`;
  if (url.pathname === `${base}/idpresponse`) return finishFederated(deps, req, res, url, details.uid);
  if (url.pathname !== base) return send(res, 404, "text/plain", "not found");
  const params = details.params;
  const clientId = String(params.client_id);
  const loginHint = param(params, "login_hint") ?? "";
  if (req.method === "GET") {
    // A provider button on the page (query), else the authorize request's choice.
    const identityProvider = url.searchParams.get("identity_provider") ?? param(params, "identity_provider");
    const idpIdentifier = param(params, "idp_identifier");
    if (identityProvider !== "COGNITO" && (identityProvider !== undefined || idpIdentifier !== undefined)) {
      const idp = deps.accounts.federatedIdp({ ...(identityProvider !== undefined ? { identityProvider } : {}), ...(idpIdentifier !== undefined ? { idpIdentifier } : {}) });
      if (!idp) return send(res, 400, HTML, renderLoginPage({ clientId, error: UNKNOWN_IDP }));
      return redirect(res, deps.corporate.signInUrl(idp, details.uid, loginHint || undefined));
    }
    return send(res, 200, HTML, localPage(deps, base, clientId, loginHint));
  }
  if (req.method !== "POST") return send(res, 405, "text/plain", "method not allowed");
  const form = new URLSearchParams(await readBody(req));
  const username = form.get("username") ?? "";
  const account = deps.accounts.signIn(username, form.get("password") ?? "");
  if (!account) return send(res, 200, HTML, localPage(deps, base, clientId, username, "Incorrect username or password."));
  if (deps.accounts.isDisabled(account.sub)) return send(res, 200, HTML, localPage(deps, base, clientId, username, DISABLED));
  await finish(deps, req, res, account);
}

function localPage(deps: LoginDeps, base: string, clientId: string, username: string, error?: string): string {
  const providers = deps.accounts.federated.map((idp) => ({ name: idp.name, href: `${base}?${new URLSearchParams({ identity_provider: idp.name })}` }));
  return renderLoginPage({ action: base, clientId, username, providers, ...(error ? { error } : {}) });
}

async function finishFederated(deps: LoginDeps, req: IncomingMessage, res: ServerResponse, url: URL, uid: string): Promise<void> {
  const account = deps.corporate.redeem(url.searchParams.get("code") ?? "", uid);
  if (!account) return send(res, 400, HTML, renderLoginPage({ error: "The identity provider's answer is invalid or was already used. Start again from the application." }));
  if (deps.accounts.isDisabled(account.sub)) return send(res, 400, HTML, renderLoginPage({ error: DISABLED }));
  await finish(deps, req, res, account);
}

async function finish(deps: LoginDeps, req: IncomingMessage, res: ServerResponse, account: Account): Promise<void> {
  const provider = deps.provider();
  const returnTo = await provider.interactionResult(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  await handOverSession(provider, (await provider.interactionDetails(req, res)).session, account.sub);
  redirect(res, returnTo);
}

/**
 * A different person signed in over a live hosted-login session (prompt=login): Cognito lets the
 * new person in and the session becomes theirs. oidc-provider would instead send the browser
 * through its own logout confirmation, which ends in "interaction session not found"; so the
 * old person's sign-in and grants are taken off the session here, and the resume step finds a
 * session without an account (same uid) and signs the new person in.
 */
async function handOverSession(provider: Provider, origin: { uid?: string; accountId?: string } | undefined, accountId: string): Promise<void> {
  if (!origin?.uid || !origin.accountId || origin.accountId === accountId) return;
  const session = await provider.Session.findByUid(origin.uid);
  if (!session?.accountId) return;
  session.accountId = undefined as never;
  session.loginTs = undefined as never;
  session.authorizations = {};
  await session.persist();
}
