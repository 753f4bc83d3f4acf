/**
 * The loopback redirect listener (RFC 8252 section 7.3). Cognito matches redirect URIs exactly,
 * so the client registers a few fixed ports; they are tried in order. When the redirect host is
 * `localhost` the listener binds both 127.0.0.1 and ::1, since a browser may resolve either; it
 * never binds anything but a loopback address.
 *
 * Why a start page. A browser's command line is public: any local user reads it in `ps` or
 * /proc/<pid>/cmdline. Were the authorization URL on it, its `state` would let another user
 * finish this login with their own account (login CSRF). So the browser is given only
 * http://<loopback>:<port>/start/<256-bit id>, and this listener answers it with a 302 to the
 * authorization URL. That address, also public, is guarded three ways:
 *  - on Linux, a request from a socket owned by another user (kernel's socket table, see
 *    loopback-peer.ts) is refused, start page and callback alike: the attacker who read `ps`
 *    gets nothing, however fast they are;
 *  - it works once: a second fetch gets an error page and no redirect;
 *  - the first fetch sets a random cookie (HttpOnly, SameSite=Lax, scoped to the callback path)
 *    that the callback must carry, so the callback is bound to the browser that started it,
 *    even if the state leaks by some other way (history, logs).
 * A private 0600 file:// page was the alternative; it fails with snap/flatpak browsers (no
 * access to /tmp or dot-directories), with xdg-open's text/html handler and across WSL.
 *
 * Anything else that reaches the port (a scan, a favicon, a stale tab, an <img> on a web page, a
 * wrong or missing state or cookie) gets an escaped error page and is ignored: the login keeps
 * waiting. Only a callback that passes every check reaches the handler, which decides what it
 * means (it accepts exactly one, from here or pasted).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { CliError, ExitCode } from "../errors.ts";
import { loopbackPeerUid, type PeerAddress } from "./loopback-peer.ts";

export interface CallbackOutcome {
  ok: boolean;
  /** Shown to the user in the browser tab (escaped here). */
  message: string;
  /** Exactly one callback is handled; later ones are told so (409). */
  alreadyHandled?: boolean;
}

export interface LoginBinding {
  authorizationUrl: URL;
  state: string;
  /** Serve the one-shot start page (browser on this machine) and require its cookie on the callback. */
  startPage: boolean;
}

export interface LoopbackListener {
  redirectUri: string;
  /** Starts accepting this login; returns the start address to hand to the browser. */
  arm(binding: LoginBinding): string;
  /** Stops listening once the page in flight has been sent (at most ~1 s). */
  close(): Promise<void>;
}

export interface ListenerOptions {
  /** The uid owning a loopback client socket, or null when unknown (injected for tests). */
  peerUid?: (peer: PeerAddress, serverPort: number) => number | null;
  /** Users whose browsers may use this listener (default: this process's user and root). */
  allowedUids?: number[];
}

type Server = ReturnType<typeof Bun.serve>;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function callbackPage(outcome: CallbackOutcome): string {
  const title = outcome.ok ? "Signed in" : "Sign-in failed";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} - agent-runner-auth</title>
<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto}</style></head>
<body><h1 id="result">${title}</h1><p id="message">${escapeHtml(outcome.message)}</p></body></html>`;
}

/** Equal secrets, compared in constant time (lengths may differ: that is not a secret). */
export function sameSecret(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function bindHosts(redirectHost: string): string[] {
  if (redirectHost === "localhost") return ["127.0.0.1", "::1"];
  if (redirectHost === "[::1]") return ["::1"];
  if (/^127\.\d+\.\d+\.\d+$/.test(redirectHost)) return [redirectHost];
  return [];
}

/** Bun.serve's listen errors carry the errno name as `code` (checked on Bun 1.4.5). */
function isAddressInUse(error: unknown): boolean {
  return (error as { code?: string })?.code === "EADDRINUSE";
}

function isAddressUnavailable(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT";
}

const HTML = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "referrer-policy": "no-referrer", "x-frame-options": "DENY" };

function page(status: number, outcome: CallbackOutcome, headers: Record<string, string> = {}): Response {
  return new Response(callbackPage(outcome), { status, headers: { ...HTML, ...headers } });
}

const STRAY = "This is not the sign-in this terminal is waiting for. The login in your terminal keeps waiting; you can close this tab.";

function parseCookies(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return cookies;
}

/** The per-login secrets and one-shot flags the request handler checks. */
class Gate {
  readonly startId = randomBytes(32).toString("base64url");
  readonly cookieValue = randomBytes(32).toString("base64url");
  started = false;
  constructor(readonly binding: LoginBinding) {}
}

/**
 * Starts listening on the first registered redirect URI whose port is free, and hands the
 * callback that matches the armed login to `onCallback`, whose outcome becomes the page shown.
 */
export function listenForCallback(redirectUris: string[], onCallback: (url: URL) => Promise<CallbackOutcome>, options: ListenerOptions = {}): LoopbackListener {
  const peerUid = options.peerUid ?? loopbackPeerUid;
  const allowed = new Set(options.allowedUids ?? [process.getuid?.() ?? 0, 0]);
  const busy: string[] = [];
  let sawNonLoopback = false;
  for (const redirectUri of redirectUris) {
    const target = new URL(redirectUri);
    if (target.protocol !== "http:") continue;
    const hosts = bindHosts(target.hostname);
    if (hosts.length === 0) {
      sawNonLoopback = true;
      continue;
    }
    const port = Number(target.port || 80);
    const cookieName = `ara-login-${port}`;
    let gate: Gate | null = null;

    const handle = async (request: Request, server: Server): Promise<Response> => {
      const url = new URL(request.url);
      const peer = server.requestIP(request);
      const owner = peer ? peerUid({ address: peer.address, port: peer.port }, port) : null;
      if (owner !== null && !allowed.has(owner)) {
        return page(403, { ok: false, message: "This sign-in belongs to another user of this computer." });
      }
      if (request.method !== "GET" || !gate) return page(404, { ok: false, message: STRAY });
      if (url.pathname.startsWith("/start/") && gate.binding.startPage) {
        if (!sameSecret(url.pathname.slice("/start/".length), gate.startId)) return page(404, { ok: false, message: STRAY });
        if (gate.started) {
          return page(410, { ok: false, message: "This sign-in link was already used. Go back to the browser tab it opened, or run the login again." });
        }
        gate.started = true;
        const cookie = `${cookieName}=${gate.cookieValue}; Path=${target.pathname}; HttpOnly; SameSite=Lax`;
        return new Response(null, { status: 302, headers: { location: gate.binding.authorizationUrl.href, "set-cookie": cookie, "cache-control": "no-store", "referrer-policy": "no-referrer" } });
      }
      if (url.pathname !== target.pathname) return page(404, { ok: false, message: STRAY });
      if (!sameSecret(url.searchParams.get("state"), gate.binding.state)) return page(400, { ok: false, message: STRAY });
      if (gate.binding.startPage && !sameSecret(parseCookies(request.headers.get("cookie")).get(cookieName), gate.cookieValue)) {
        return page(400, { ok: false, message: "This callback did not come from the browser that started the sign-in. The login in your terminal keeps waiting." });
      }
      const outcome = await onCallback(url);
      return page(outcome.ok ? 200 : outcome.alreadyHandled ? 409 : 400, outcome);
    };

    const servers: Server[] = [];
    try {
      for (const hostname of hosts) {
        try {
          servers.push(Bun.serve({ hostname, port, fetch: handle, reusePort: false }));
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
      arm(binding) {
        gate = new Gate(binding);
        return binding.startPage ? `${target.origin}/start/${gate.startId}` : binding.authorizationUrl.href;
      },
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
      : sawNonLoopback
        ? "the tenant registers no loopback redirect URI (http://localhost, 127.0.0.1 or [::1] with a port) for this CLI"
        : "the tenant registers no http loopback redirect URI for this CLI",
    busy.length > 0
      ? `Close what is using port ${busy.join(" or ")} (another login in progress?), or pick a registered port with --port.`
      : "Ask the tenant administrator to register http://localhost:<port>/callback on the app client.",
  );
}
