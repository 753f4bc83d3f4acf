/**
 * The sign-in pages of the local tenant: the pool's hosted page (a plain form, like Cognito's
 * classic hosted UI, with a button per federated IdP) and the federated corporate IdP's own page.
 * Both use the same field ids (`username`, `password`, `signin`), so one scripted browser signs in on either.
 */

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface LoginPageOptions {
  action?: string;
  clientId?: string;
  /** Pre-filled user name (the typed one after an error, or `login_hint`). */
  username?: string;
  error?: string;
  /** Heading; default "Sign in". */
  title?: string;
  /** The line under the heading; default names the local tenant and the app client. */
  subtitle?: string;
  usernameLabel?: string;
  /** "Sign in with your corporate ID" links, as Cognito's hosted page shows them. */
  providers?: { name: string; href: string }[];
}

export function renderLoginPage(o: LoginPageOptions): string {
  const error = o.error ? `<p class="error" role="alert" id="error">${escapeHtml(o.error)}</p>` : "";
  const form = o.action
    ? `<form method="post" action="${escapeHtml(o.action)}" autocomplete="off">
  <label>${escapeHtml(o.usernameLabel ?? "Username")} <input name="username" id="username" value="${escapeHtml(o.username ?? "")}" autofocus required></label>
  <label>Password <input name="password" id="password" type="password" required></label>
  <button type="submit" id="signin">Sign in</button>
</form>`
    : "";
  const providers = o.providers?.length
    ? `<section id="federated"><p>Sign in with your corporate ID</p>${o.providers
        .map((p) => `<p><a class="idp" id="idp-${escapeHtml(p.name)}" href="${escapeHtml(p.href)}">${escapeHtml(p.name)}</a></p>`)
        .join("")}<hr></section>`
    : "";
  const subtitle = o.subtitle !== undefined ? escapeHtml(o.subtitle) : `Local agent-runner tenant${o.clientId ? ` &middot; app client <code>${escapeHtml(o.clientId)}</code>` : ""}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(o.title ?? "Sign in")}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.8rem 0}
input{display:block;width:100%;padding:.4rem;font:inherit}button{padding:.5rem 1.2rem;font:inherit}.error{color:#b00020}</style>
</head><body>
<h1 id="title">${escapeHtml(o.title ?? "Sign in")}</h1>
<p id="subtitle">${subtitle}</p>
${error}
${providers}
${form}
</body></html>`;
}
