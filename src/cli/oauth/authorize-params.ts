/**
 * The extra /oauth2/authorize parameters of a real Cognito pool's sign-in (cognito.md, "Sign-in
 * sessions, federation and logout"): `identity_provider` / `idp_identifier` go straight to the
 * company IdP, `login_hint` pre-fills the user name, and `prompt=login` shows the form even when
 * the hosted page's session cookie survived a logout (or the user asked to switch).
 */
import type { Profile } from "../config.ts";

export type SignInHints = Pick<Profile, "identityProvider" | "idpIdentifier" | "loginHint" | "loggedOut">;

export interface AuthorizeParamsInput {
  /** The profile's saved hints and its logged-out state. */
  profile: SignInHints;
  /** `login --switch-user`. */
  switchUser?: boolean;
}

/** The parameters to add, in a stable order; empty for a plain pool. */
export function authorizeParams(input: AuthorizeParamsInput): Record<string, string> {
  const { profile } = input;
  const params: Record<string, string> = {};
  // identity_provider wins over idp_identifier at Cognito; send only the one that decides.
  if (profile.identityProvider) params.identity_provider = profile.identityProvider;
  else if (profile.idpIdentifier) params.idp_identifier = profile.idpIdentifier;
  if (profile.loginHint) params.login_hint = profile.loginHint;
  if (input.switchUser || profile.loggedOut) params.prompt = "login";
  return params;
}
