/** Small HTTP helpers for the IdP's own routes (the ones oidc-provider does not serve). */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Forms and admin bodies are tiny; anything larger is refused rather than buffered. */
export const MAX_BODY_BYTES = 64 * 1024;

export class BodyTooLargeError extends Error {
  readonly code = "body_too_large";
  constructor() {
    super(`request body over ${MAX_BODY_BYTES} bytes`);
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...headers });
  res.end(body);
}

export const HTML = "text/html; charset=utf-8";

export function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(302, { location, "cache-control": "no-store", ...headers });
  res.end();
}

export const escapeHtml = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Answers an unexpected failure of one of our handlers with a 500 rather than a hung request. */
export function guard(res: ServerResponse, work: Promise<void>): void {
  void work.catch((e: unknown) => {
    if (res.headersSent) return void res.destroy();
    send(res, e instanceof BodyTooLargeError ? 413 : 500, "text/plain", e instanceof BodyTooLargeError ? e.message : String(e));
  });
}
