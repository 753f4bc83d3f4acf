/**
 * A BROWSER for tests that need the hosted sign-in page's session to survive between CLI runs,
 * as a real browser's cookie jar does: cookies persist in $SESSION_BROWSER_JAR (JSON). For each
 * address the CLI opens it follows redirects (loopback pages included: the CLI serves them) and
 * appends one JSON line to $SESSION_BROWSER_LOG: {kind: "form"} when a sign-in form was shown
 * (then filled with AGENT_RUNNER_DEMO_USERNAME / _PASSWORD), {kind: "silent"} when the pool sent
 * the browser straight back to the CLI, {kind: "page"} otherwise (e.g. the logged-out page), with
 * the authorize URL's prompt parameter and the final heading.
 */
import { existsSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";

const [start] = process.argv.slice(2);
const jarPath = process.env.SESSION_BROWSER_JAR ?? "";
const logPath = process.env.SESSION_BROWSER_LOG ?? "";
const cookies = new Map<string, string>(jarPath && existsSync(jarPath) ? Object.entries(JSON.parse(readFileSync(jarPath, "utf8"))) : []);
let prompt: string | null = null;

function remember(response: Response): void {
  for (const header of response.headers.getSetCookie()) {
    const [pair, ...attributes] = header.split(";");
    const eq = pair!.indexOf("=");
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    if (value === "" || attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a))) cookies.delete(name);
    else cookies.set(name, value);
  }
  // At once: a browser started from a terminal may be hung up on when the CLI exits.
  if (jarPath) writeFileSync(jarPath, JSON.stringify(Object.fromEntries(cookies)));
}

async function visit(target: string, init: RequestInit = {}): Promise<{ url: string; html: string; status: number }> {
  let current = target;
  let request = init;
  for (let hops = 0; hops < 20; hops++) {
    const u = new URL(current);
    if (u.pathname.endsWith("/oauth2/authorize") || u.pathname.endsWith("/authorize")) prompt = u.searchParams.get("prompt") ?? prompt;
    const response = await fetch(current, { ...request, redirect: "manual", headers: { ...(request.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") } });
    remember(response);
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      current = new URL(location, current).href;
      request = {};
      continue;
    }
    return { url: current, html: await response.text(), status: response.status };
  }
  throw new Error("too many redirects");
}

const heading = (html: string) => /<h1[^>]*>([^<]*)<\/h1>/.exec(html)?.[1] ?? "";
const log = (entry: Record<string, unknown>) => logPath && appendFileSync(logPath, JSON.stringify({ ...entry, prompt }) + "\n");

const first = await visit(start!);
const action = /<form[^>]*action="([^"]+)"/.exec(first.html)?.[1];
if (action) {
  let result = await visit(new URL(action.replaceAll("&amp;", "&"), first.url).href, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: process.env.AGENT_RUNNER_DEMO_USERNAME ?? "", password: process.env.AGENT_RUNNER_DEMO_PASSWORD ?? "" }).toString(),
  });
  // A page whose script submits its form at once (oidc-provider's session swap when another
  // account signs in over a live session): a browser runs it, so do we.
  for (let i = 0; i < 3 && /forms\[0\]\.submit\(\)/.test(result.html); i++) {
    const next = /<form[^>]*action="([^"]+)"/.exec(result.html)?.[1] ?? "";
    const fields = new URLSearchParams([...result.html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replaceAll("&amp;", "&")]));
    result = await visit(new URL(next.replaceAll("&amp;", "&"), result.url).href, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: fields.toString() });
  }
  log({ kind: "form", heading: heading(result.html), ...(heading(result.html) === "Signed in" ? {} : { at: new URL(result.url).pathname, status: result.status, body: result.html.slice(0, 400) }) });
} else {
  log({ kind: new URL(first.url).pathname.endsWith("/callback") ? "silent" : "page", heading: heading(first.html) });
}
if (jarPath) writeFileSync(jarPath, JSON.stringify(Object.fromEntries(cookies)));
