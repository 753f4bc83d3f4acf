/**
 * A scripted stand-in for a browser, for the demo: follows the sign-in URL it is given (as
 * BROWSER gives it), fills the local tenant's login form with AGENT_RUNNER_DEMO_USERNAME /
 * AGENT_RUNNER_DEMO_PASSWORD, and follows the redirects to the CLI's loopback callback, like a
 * person clicking through. The tests use a real Chromium instead (test/support/chromium-login.mjs).
 *
 * It detaches from the CLI (which does not wait for browsers) and logs to stderr only.
 */
export {};

const [url] = process.argv.slice(2);
const username = process.env.AGENT_RUNNER_DEMO_USERNAME ?? "";
const password = process.env.AGENT_RUNNER_DEMO_PASSWORD ?? "";
if (!url) {
  console.error("scripted-browser: usage: scripted-browser <url>");
  process.exit(2);
}

const cookies = new Map<string, string>();

function remember(response: Response): void {
  for (const header of response.headers.getSetCookie()) {
    const [pair] = header.split(";");
    const eq = pair?.indexOf("=") ?? -1;
    if (pair && eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
}

async function visit(target: string, init: RequestInit = {}): Promise<{ url: string; response: Response }> {
  let current = target;
  let request = init;
  for (let hops = 0; hops < 20; hops++) {
    const response = await fetch(current, {
      ...request,
      redirect: "manual",
      headers: { ...(request.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    remember(response);
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      current = new URL(location, current).href;
      request = {};
      continue;
    }
    return { url: current, response };
  }
  throw new Error("too many redirects");
}

const page = await visit(url);
const html = await page.response.text();
const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
if (!action) {
  console.error(`scripted-browser: no login form at ${page.url} (HTTP ${page.response.status})`);
  process.exit(1);
}
const result = await visit(new URL(action.replaceAll("&amp;", "&"), page.url).href, {
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({ username, password }).toString(),
});
const text = await result.response.text();
const heading = /<h1[^>]*>([^<]*)<\/h1>/.exec(text)?.[1] ?? `HTTP ${result.response.status}`;
console.error(`scripted-browser: ${heading}`);
process.exit(result.response.ok ? 0 : 1);
