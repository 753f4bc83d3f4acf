/**
 * The pool's accounts as Cognito shows them: local users (by user name, or by email in an
 * "email as username" pool, where the user name is a UUID), and users federated from a
 * corporate IdP (`<Provider>_<userId>`, with an `identities` claim and the pool's automatic
 * `<poolId>_<Provider>` group). An account can be disabled (AdminDisableUser: no sign-in, no
 * refresh, userInfo refuses its tokens) and signed out everywhere (AdminUserGlobalSignOut:
 * tokens issued before it are refused); the control plane (admin.ts) does both.
 */
import { createHash } from "node:crypto";

export interface TenantUser {
  username: string;
  password: string;
  email?: string;
  groups?: string[];
  /** Signs in with `email` (a Cognito "email as username" pool): `username` is then a UUID, the `sub`. */
  emailSignIn?: boolean;
}

/** A person at a federated corporate IdP. */
export interface CorporateUser {
  userId: string;
  password: string;
  email: string;
  groups?: string[];
}

/** A SAML/OIDC IdP federated into the pool, reached with `identity_provider` or `idp_identifier`. */
export interface FederatedIdp {
  name: string;
  type: "SAML" | "OIDC";
  /** The `idp_identifier` values (e.g. email domains) that pick this IdP. */
  identifiers: string[];
  users: CorporateUser[];
}

/** What the tokens say about an account. */
export interface Account {
  sub: string;
  username: string;
  email: string;
  groups: string[];
  identities?: Record<string, string | null>[];
}

/** The corporate IdP the local tenant federates by default. */
export const EXAMPLE_CORP: FederatedIdp = {
  name: "ExampleCorp",
  type: "SAML",
  identifiers: ["example.com"],
  users: [{ userId: "alice@example.com", password: "alice-password-1", email: "alice@example.com", groups: ["developers"] }],
};

/** A user of an "email as username" pool: signs in as erin@example.com, `username` is this UUID. */
export const EMAIL_SIGN_IN_USER: TenantUser = {
  username: "5f1c7c3e-9b2d-4a61-8e0f-2b7d3c9a4e15",
  password: "erin-password-1",
  email: "erin@example.com",
  groups: ["developers"],
  emailSignIn: true,
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Cognito subjects are UUIDs: a UUID user name is its own subject, others get a stable one derived from the name. */
export function subjectOf(username: string): string {
  if (UUID.test(username)) return username;
  const h = createHash("sha256").update(`agent-runner-local:${username}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const federatedUsername = (idp: FederatedIdp, user: CorporateUser): string => `${idp.name}_${user.userId}`;

export class AccountDirectory {
  private readonly bySub = new Map<string, Account>();
  private readonly byLogin = new Map<string, TenantUser>();
  private readonly disabled = new Set<string>();
  /** sub → when the account was last signed out everywhere (epoch seconds). */
  private readonly signedOut = new Map<string, number>();

  constructor(
    private readonly poolId: string,
    users: TenantUser[],
    readonly federated: FederatedIdp[],
  ) {
    for (const user of users) {
      this.byLogin.set(user.emailSignIn && user.email ? user.email.toLowerCase() : user.username, user);
      const sub = subjectOf(user.username);
      this.bySub.set(sub, { sub, username: user.username, email: user.email ?? `${user.username}@example.invalid`, groups: user.groups ?? [] });
    }
    for (const idp of federated) for (const user of idp.users) this.addFederated(idp, user);
  }

  private addFederated(idp: FederatedIdp, user: CorporateUser): void {
    const username = federatedUsername(idp, user);
    const sub = subjectOf(username);
    this.bySub.set(sub, {
      sub,
      username,
      email: user.email,
      groups: [...(user.groups ?? []), `${this.poolId}_${idp.name}`],
      identities: [{ userId: user.userId, providerName: idp.name, providerType: idp.type, issuer: null, primary: "true", dateCreated: "1767225600000" }],
    });
  }

  account(sub: string): Account | undefined {
    return this.bySub.get(sub);
  }

  /** The account an admin API call names, as Cognito's `Username`: the user name, or the email of an email-sign-in user. */
  byUsername(username: string): Account | undefined {
    const direct = this.bySub.get(subjectOf(username));
    if (direct?.username === username) return direct;
    const user = this.byLogin.get(username.toLowerCase());
    return user?.emailSignIn ? this.bySub.get(subjectOf(user.username)) : undefined;
  }

  isDisabled(sub: string): boolean {
    return this.disabled.has(sub);
  }

  setDisabled(sub: string, disabled: boolean): void {
    if (disabled) this.disabled.add(sub);
    else this.disabled.delete(sub);
  }

  /** Records a global sign-out: tokens issued before `at` (epoch seconds) are refused. */
  signOutEverywhere(sub: string, at: number): void {
    this.signedOut.set(sub, at);
  }

  /** Whether a token issued at `iat` (epoch seconds) predates the account's last global sign-out. */
  issuedBeforeSignOut(sub: string, iat: number): boolean {
    const at = this.signedOut.get(sub);
    return at !== undefined && iat < at;
  }

  /** The local user signing in with `login` (a user name, or an email in an email pool) and `password`. */
  signIn(login: string, password: string): Account | undefined {
    const user = this.byLogin.get(login) ?? this.byLogin.get(login.toLowerCase());
    if (!user || user.password !== password) return undefined;
    return this.bySub.get(subjectOf(user.username));
  }

  /** The IdP named by `identity_provider` (case-sensitive, as Cognito) or picked by `idp_identifier`. */
  federatedIdp(params: { identityProvider?: string; idpIdentifier?: string }): FederatedIdp | undefined {
    if (params.identityProvider !== undefined) return this.federated.find((idp) => idp.name === params.identityProvider);
    const id = params.idpIdentifier?.toLowerCase();
    return id === undefined ? undefined : this.federated.find((idp) => idp.identifiers.includes(id));
  }

  /** A corporate user's pool account, after the corporate IdP vouched for them. */
  federatedSignIn(idp: FederatedIdp, userId: string, password: string): Account | undefined {
    const user = idp.users.find((u) => u.userId.toLowerCase() === userId.toLowerCase());
    if (!user || user.password !== password) return undefined;
    return this.bySub.get(subjectOf(federatedUsername(idp, user)));
  }
}
