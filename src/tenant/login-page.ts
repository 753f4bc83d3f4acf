/** The hosted sign-in page of the local tenant: a plain form, like Cognito's classic hosted UI. */

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface LoginPageOptions {
  action?: string;
  clientId?: string;
  username?: string;
  error?: string;
}

export function renderLoginPage(o: LoginPageOptions): string {
  const error = o.error ? `<p class="error" role="alert" id="error">${escapeHtml(o.error)}</p>` : "";
  const form = o.action
    ? `<form method="post" action="${escapeHtml(o.action)}" autocomplete="off">
  <label>Username <input name="username" id="username" value="${escapeHtml(o.username ?? "")}" autofocus required></label>
  <label>Password <input name="password" id="password" type="password" required></label>
  <button type="submit" id="signin">Sign in</button>
</form>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.8rem 0}
input{display:block;width:100%;padding:.4rem;font:inherit}button{padding:.5rem 1.2rem;font:inherit}.error{color:#b00020}</style>
</head><body>
<h1>Sign in</h1>
<p>Local agent-runner tenant${o.clientId ? ` &middot; app client <code>${escapeHtml(o.clientId)}</code>` : ""}</p>
${error}
${form}
</body></html>`;
}
