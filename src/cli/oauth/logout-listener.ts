/**
 * The short-lived loopback listener for the pool's `/logout?logout_uri=...` (Cognito): the pool
 * ends its hosted sign-in session and sends the browser to one of the app client's registered
 * sign-out URLs, here `http://localhost:<port>/logged-out`. We answer that one page, so the tab
 * says "Signed out" and `logout` knows the browser got there. Nothing secret passes through it;
 * anything else on the port gets a 404. Like the callback listener, only loopback addresses.
 */
import { callbackPage } from "./loopback.ts";

export interface LogoutListener {
  logoutUri: string;
  /** Resolves true when the browser reached the page, false when `timeoutMs` passed first. */
  reached(timeoutMs: number): Promise<boolean>;
  close(): void;
}

type Server = ReturnType<typeof Bun.serve>;

function hostsFor(hostname: string): string[] {
  if (hostname === "localhost") return ["127.0.0.1", "::1"];
  if (hostname === "[::1]") return ["::1"];
  if (/^127\.\d+\.\d+\.\d+$/.test(hostname)) return [hostname];
  return [];
}

const HTML = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "referrer-policy": "no-referrer", "x-frame-options": "DENY" };

/** Listens on the first registered logout URI whose port is free; null when none can be used. */
export function listenForLogout(logoutUris: readonly string[]): LogoutListener | null {
  for (const uri of logoutUris) {
    let target: URL;
    try {
      target = new URL(uri);
    } catch {
      continue;
    }
    const hosts = target.protocol === "http:" ? hostsFor(target.hostname) : [];
    if (hosts.length === 0 || !target.port) continue;
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const handle = (request: Request): Response => {
      const url = new URL(request.url);
      if (request.method !== "GET" || url.pathname !== target.pathname) return new Response(callbackPage({ ok: false, message: "Nothing here." }), { status: 404, headers: HTML });
      arrived();
      const page = callbackPage({ ok: true, message: "You are signed out of agent-runner in this browser. You can close this tab." }).replace(/Signed in/g, "Signed out");
      return new Response(page, { status: 200, headers: HTML });
    };
    const servers: Server[] = [];
    try {
      for (const hostname of hosts) {
        try {
          servers.push(Bun.serve({ hostname, port: Number(target.port), fetch: handle, reusePort: false }));
        } catch (e) {
          if (hostname === "::1" && servers.length > 0) continue; // no IPv6 here: 127.0.0.1 serves
          throw e;
        }
      }
    } catch {
      for (const s of servers) s.stop(true);
      continue; // busy port: the next registered URI
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    return {
      logoutUri: uri,
      reached: (timeoutMs) =>
        Promise.race([arrival.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]).finally(() => clearTimeout(timer)),
      close: () => {
        for (const s of servers) void s.stop(false);
      },
    };
  }
  return null;
}
