/**
 * The loopback redirect listener (RFC 8252 section 7.3). Cognito matches redirect URIs exactly,
 * so the client registers a few fixed ports; they are tried in order. When the redirect host is
 * `localhost` the listener binds both 127.0.0.1 and ::1, since a browser may resolve either.
 * The handler decides what a callback means (it accepts exactly one, from here or pasted).
 */
import { CliError, ExitCode } from "../errors.ts";

export interface CallbackOutcome {
  ok: boolean;
  /** Shown to the user in the browser tab (escaped here). */
  message: string;
  /** Exactly one callback is handled; later ones are told so (409). */
  alreadyHandled?: boolean;
}

export interface LoopbackListener {
  redirectUri: string;
  /** Stops listening once the page in flight has been sent (at most ~1 s). */
  close(): Promise<void>;
}

type Server = ReturnType<typeof Bun.serve>;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function callbackPage(outcome: CallbackOutcome): string {
  const title = outcome.ok ? "Signed in" : "Sign-in failed";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} - agent-runner-auth</title>
<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto}</style></head>
<body><h1 id="result">${title}</h1><p id="message">${escapeHtml(outcome.message)}</p></body></html>`;
}

function bindHosts(redirectHost: string): string[] {
  if (redirectHost === "localhost") return ["127.0.0.1", "::1"];
  if (redirectHost === "[::1]") return ["::1"];
  return [redirectHost];
}

function isAddressInUse(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e?.code === "EADDRINUSE" || /in use|EADDRINUSE/i.test(String(e?.message));
}

function isAddressUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e?.code === "EADDRNOTAVAIL" || e?.code === "EAFNOSUPPORT" || /not available|EADDRNOTAVAIL|EAFNOSUPPORT/i.test(String(e?.message));
}

/**
 * Starts listening on the first registered redirect URI whose port is free, and hands the
 * first callback request to `onCallback`, whose outcome becomes the page the browser shows.
 */
export function listenForCallback(redirectUris: string[], onCallback: (url: URL) => Promise<CallbackOutcome>): LoopbackListener {
  const busy: string[] = [];
  for (const redirectUri of redirectUris) {
    const target = new URL(redirectUri);
    if (target.protocol !== "http:") continue;
    const port = Number(target.port || 80);
    const fetch = async (request: Request): Promise<Response> => {
      const url = new URL(request.url);
      const html = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" };
      if (url.pathname !== target.pathname || request.method !== "GET") return new Response("Not found", { status: 404 });
      if (!url.searchParams.has("state") && !url.searchParams.has("code") && !url.searchParams.has("error")) {
        return new Response("Not found", { status: 404 });
      }
      const outcome = await onCallback(url);
      const status = outcome.ok ? 200 : outcome.alreadyHandled ? 409 : 400;
      return new Response(callbackPage(outcome), { status, headers: html });
    };
    const servers: Server[] = [];
    try {
      for (const hostname of bindHosts(target.hostname)) {
        try {
          servers.push(Bun.serve({ hostname, port, fetch, reusePort: false }));
        } catch (e) {
          // A machine without IPv6 still works on 127.0.0.1; a busy port moves on to the next URI.
          if (hostname === "::1" && isAddressUnavailable(e)) continue;
          throw e;
        }
      }
    } catch (e) {
      for (const s of servers) s.stop(true);
      if (isAddressInUse(e)) {
        busy.push(String(port));
        continue;
      }
      throw new CliError(ExitCode.authRequired, `cannot listen on ${target.host} for the sign-in callback: ${(e as Error).message}`);
    }
    return {
      redirectUri,
      close: async () => {
        const graceful = Promise.all(servers.map((s) => s.stop(false)));
        await Promise.race([graceful, new Promise((r) => setTimeout(r, 1000))]);
        for (const s of servers) void s.stop(true);
      },
    };
  }
  throw new CliError(
    ExitCode.authRequired,
    busy.length > 0
      ? `every registered callback port is in use (${busy.join(", ")}), so the sign-in callback cannot be received`
      : "the tenant registers no http loopback redirect URI for this CLI",
    busy.length > 0
      ? `Close what is using port ${busy.join(" or ")} (another login in progress?), or pick a registered port with --port.`
      : "Ask the tenant administrator to register http://localhost:<port>/callback on the app client.",
  );
}
