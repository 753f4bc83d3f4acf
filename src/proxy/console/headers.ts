/**
 * The console's response headers: a strict Content-Security-Policy (every script, style, image
 * and connection from the gateway itself; no inline script or style attribute; no framing), and
 * the usual hardening. uPlot and Preact set element styles through the CSSOM (element.style),
 * which a CSP does not restrict; uPlot's stylesheet is one of the served files.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join("; ");

export function securityHeaders(secure: boolean): Record<string, string> {
  return {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ...(secure ? { "strict-transport-security": "max-age=31536000" } : {}),
  };
}

export interface CookieOptions {
  secure: boolean;
  sameSite: "Strict" | "Lax";
  /** Seconds; 0 clears the cookie. */
  maxAge: number;
}

/**
 * Names and scope: off loopback the `__Host-` prefix (Secure, Path=/, no Domain: no sibling
 * tenant host can set or shadow it); on loopback (plain http) the console's path.
 */
export function cookieName(base: string, secure: boolean): string {
  return secure ? `__Host-${base}` : base;
}

export function setCookie(base: string, value: string, o: CookieOptions): string {
  const parts = [`${cookieName(base, o.secure)}=${value}`, o.secure ? "Path=/" : "Path=/_gateway/console/", "HttpOnly", `SameSite=${o.sameSite}`, `Max-Age=${o.maxAge}`];
  if (o.secure) parts.push("Secure");
  return parts.join("; ");
}

/** A cookie's value from the request's Cookie header (the first of that name). */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}
