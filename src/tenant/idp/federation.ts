/**
 * The corporate IdPs federated into the pool, each with its own sign-in page on its own route
 * (`/federated-idp/<name>/sso`, outside the pool, as a SAML IdP would be on its own host). The
 * pool sends the browser there with a RelayState (the pool's interaction id); after a good
 * password the IdP sends it back to the pool's response URL with a one-time code, which the pool
 * redeems for the federated account (`<name>_<userId>`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { renderLoginPage } from "../login-page.ts";
import type { Account, AccountDirectory, FederatedIdp } from "./accounts.ts";
import { HTML, readBody, redirect, send } from "./http.ts";

export const FEDERATED_IDP_ROOT = "/federated-idp/";
const CODE_TTL_MS = 5 * 60_000;
const MAX_PENDING = 1000;

interface Pending {
  relayState: string;
  account: Account;
  expiresAt: number;
}

export class CorporateIdps {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly accounts: AccountDirectory,
    /** Where a corporate IdP returns the browser for an interaction (the pool's response URL). */
    private readonly responseUrl: (relayState: string) => string,
  ) {}

  /** Where the pool sends the browser to sign in at `idp`. */
  signInUrl(idp: FederatedIdp, relayState: string, loginHint?: string): string {
    const query = new URLSearchParams({ RelayState: relayState, ...(loginHint ? { login_hint: loginHint } : {}) });
    return `${FEDERATED_IDP_ROOT}${encodeURIComponent(idp.name)}/sso?${query}`;
  }

  /** Serves `/federated-idp/<name>/sso`: the corporate page (GET) and its form (POST). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const [name, action] = url.pathname.slice(FEDERATED_IDP_ROOT.length).split("/");
    const idp = this.accounts.federated.find((i) => i.name === decodeURIComponent(name ?? ""));
    const relayState = url.searchParams.get("RelayState") ?? "";
    if (!idp || action !== "sso") return send(res, 404, "text/plain", "not found");
    if (!relayState) return send(res, 400, HTML, renderLoginPage({ title: idp.name, subtitle: `${idp.name} single sign-on`, error: "Missing RelayState: start again from the application." }));
    const page = (username: string, error?: string) =>
      renderLoginPage({
        title: idp.name,
        subtitle: `${idp.name} single sign-on (${idp.type})`,
        usernameLabel: "Work email",
        action: `${FEDERATED_IDP_ROOT}${encodeURIComponent(idp.name)}/sso?${new URLSearchParams({ RelayState: relayState })}`,
        username,
        ...(error ? { error } : {}),
      });
    if (req.method === "GET") return send(res, 200, HTML, page(url.searchParams.get("login_hint") ?? ""));
    if (req.method !== "POST") return send(res, 405, "text/plain", "method not allowed");
    const form = new URLSearchParams(await readBody(req));
    const userId = form.get("username") ?? "";
    const account = this.accounts.federatedSignIn(idp, userId, form.get("password") ?? "");
    if (!account) return send(res, 200, HTML, page(userId, "We couldn't sign you in: wrong email or password."));
    redirect(res, `${this.responseUrl(relayState)}?${new URLSearchParams({ code: this.issue(relayState, account) })}`);
  }

  private issue(relayState: string, account: Account): string {
    const now = Date.now();
    for (const [code, p] of this.pending) if (p.expiresAt <= now || this.pending.size >= MAX_PENDING) this.pending.delete(code);
    const code = randomBytes(24).toString("base64url");
    this.pending.set(code, { relayState, account, expiresAt: now + CODE_TTL_MS });
    return code;
  }

  /** The account a code vouches for, once, and only for the interaction it was issued to. */
  redeem(code: string, relayState: string): Account | undefined {
    const p = this.pending.get(code);
    this.pending.delete(code);
    if (!p || p.relayState !== relayState || p.expiresAt <= Date.now()) return undefined;
    return p.account;
  }
}
