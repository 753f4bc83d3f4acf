/**
 * Use case "end this session at the proxy", run by `logout` before it revokes the refresh token
 * and deletes the local tokens. The stored access token is presented to the gateway's logout
 * endpoint, which denylists the sign-in (`origin_jti`) on every replica until the token expires,
 * so a copied access token stops working within seconds. This never fails the local logout: an
 * older proxy (404), no network, or a refused URL give a warning that says how long a copied
 * token still works.
 */
import { createGatewayClient, type GatewayEndpoints, type GatewayHttp } from "./client.ts";
import { GatewayError, type GatewayErrorCode } from "./errors.ts";
import { sanitizeForTerminal } from "../terminal-text.ts";

export interface EndSessionInput {
  /** The profile's tenant URL; a profile made with --issuer has none (no gateway to tell). */
  tenantUrl: string | undefined;
  /** From the discovery document the profile was made from, if it kept them. */
  endpoints?: GatewayEndpoints;
  /** The stored access token, as stored (never refreshed for this: a refresh would not help). */
  accessToken: string | undefined;
}

export interface EndSessionDeps {
  http?: GatewayHttp;
  now: () => number;
  /** Logout should not hang on a dead gateway (default 5 s). */
  timeoutMs?: number;
}

export type EndSessionOutcome =
  | { kind: "ended"; until: string }
  /** The gateway already refuses this token (401): nothing left to end. */
  | { kind: "already_invalid" }
  | { kind: "skipped"; reason: "no_tenant" | "no_token" | "token_expired" }
  /** Not ended at the gateway; `tokenExpiresAt` (ms) says until when a copy still works. */
  | { kind: "warning"; code: GatewayErrorCode; message: string; tokenExpiresAt: number | undefined };

export const LOGOUT_TIMEOUT_MS = 5_000;

/** `exp` (ms) of a JWT, read without verification: only for telling the person how long a copy works. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export async function endSessionAtGateway(input: EndSessionInput, deps: EndSessionDeps): Promise<EndSessionOutcome> {
  if (!input.tenantUrl) return { kind: "skipped", reason: "no_tenant" };
  if (!input.accessToken) return { kind: "skipped", reason: "no_token" };
  const expiresAt = tokenExpiry(input.accessToken);
  if (expiresAt !== undefined && expiresAt <= deps.now()) return { kind: "skipped", reason: "token_expired" };
  const timeoutMs = deps.timeoutMs ?? LOGOUT_TIMEOUT_MS;
  try {
    const client = createGatewayClient({ tenantUrl: input.tenantUrl, ...(input.endpoints ? { endpoints: input.endpoints } : {}), ...(deps.http ? { http: deps.http } : {}), timeoutMs });
    const answer = await client.logoutSession(input.accessToken);
    return { kind: "ended", until: answer.until };
  } catch (e) {
    if (e instanceof GatewayError && e.code === "unauthenticated") return { kind: "already_invalid" };
    // never fail the local logout, not even on a bug here
    const error = e instanceof GatewayError ? e : new GatewayError("bad_response", `unexpected failure: ${sanitizeForTerminal((e as Error)?.message ?? String(e))}`, undefined, { cause: e });
    return { kind: "warning", code: error.code, message: error.message, tokenExpiresAt: expiresAt };
  }
}

/** The line `logout` prints for an outcome (undefined: nothing worth saying). Already sanitised. */
export function describeEndSession(outcome: EndSessionOutcome): string | undefined {
  if (outcome.kind === "ended") return `the session was ended at the gateway: its access tokens are refused from now on (denylisted until ${sanitizeForTerminal(outcome.until)})`;
  if (outcome.kind !== "warning") return undefined;
  const until = outcome.tokenExpiresAt !== undefined ? ` until ${new Date(outcome.tokenExpiresAt).toISOString()}` : " until it expires";
  return `warning: could not end the session at the gateway (${outcome.message}); a copy of the current access token keeps working${until}. Logging out locally anyway.`;
}
