/**
 * The IdP's control plane under `/_admin/` (loopback only: the whole tenant binds 127.0.0.1), so
 * tests can count grants, inject faults at the token endpoint, rotate the signing key, and
 * offboard people the way a directory admin does in Cognito:
 *   POST /_admin/users/<username>/disable          AdminDisableUser (sign-ins and tokens end)
 *   POST /_admin/users/<username>/enable           AdminEnableUser (may sign in again)
 *   POST /_admin/users/<username>/global-sign-out  AdminUserGlobalSignOut (every refresh token ends)
 * 204 when done, 404 `UserNotFoundException` for an unknown user (the user name, or the email of
 * an email-sign-in user).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, send } from "./http.ts";

/** Faults a test can ask the token endpoint for. */
export type TokenFault =
  | { kind: "status"; status: number; retryAfter?: number; body?: string }
  | { kind: "delay"; ms: number }
  | { kind: "malformed-json" }
  | { kind: "missing-access-token" };

export interface IdpStats {
  grants: Record<string, number>; // successful token requests by grant_type
  grantErrors: Record<string, number>;
  tokenRequests: number;
  revocations: number;
  authorizations: number;
  /** Hosted-login sessions ended through `/logout`. */
  logouts: number;
}

export const newStats = (): IdpStats => ({ grants: {}, grantErrors: {}, tokenRequests: 0, revocations: 0, authorizations: 0, logouts: 0 });

/** Queued token-endpoint faults, consumed one per token request. */
export class FaultQueue {
  private faults: TokenFault[] = [];

  set(faults: TokenFault[]): void {
    this.faults = faults;
  }

  /** Applies the next queued fault to a token request; true when it answered the request. */
  async apply(res: ServerResponse): Promise<boolean> {
    const fault = this.faults.shift();
    if (!fault) return false;
    switch (fault.kind) {
      case "status":
        send(res, fault.status, "application/json", fault.body ?? JSON.stringify({ error: "server_error" }), fault.retryAfter !== undefined ? { "retry-after": String(fault.retryAfter) } : {});
        return true;
      case "delay":
        await new Promise((r) => setTimeout(r, fault.ms));
        return false;
      case "malformed-json":
        send(res, 200, "application/json", '{"access_token": "abc", ');
        return true;
      case "missing-access-token":
        send(res, 200, "application/json", JSON.stringify({ token_type: "Bearer", expires_in: 3600 }));
        return true;
    }
  }
}

export type UserAction = "disable" | "enable" | "global-sign-out";

export interface ControlPlane {
  stats: IdpStats;
  faults: FaultQueue;
  rotateSigningKey(): void;
  /** False when no such user. */
  userAction(username: string, action: UserAction): boolean;
}

const USER_ACTION = /^\/_admin\/users\/([^/]+)\/(disable|enable|global-sign-out)$/;

export async function handleAdmin(plane: ControlPlane, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (path === "/_admin/stats" && req.method === "GET") {
    send(res, 200, "application/json", JSON.stringify(plane.stats));
  } else if (path === "/_admin/faults" && req.method === "POST") {
    plane.faults.set(JSON.parse((await readBody(req)) || "[]") as TokenFault[]);
    send(res, 204, "text/plain", "");
  } else if (path === "/_admin/rotate-key" && req.method === "POST") {
    plane.rotateSigningKey();
    send(res, 204, "text/plain", "");
  } else if (USER_ACTION.test(path) && req.method === "POST") {
    const [, name, action] = USER_ACTION.exec(path)!;
    let username: string;
    try {
      username = decodeURIComponent(name!);
    } catch {
      return send(res, 400, "application/json", JSON.stringify({ __type: "InvalidParameterException", message: "Invalid user name." }));
    }
    if (plane.userAction(username, action as UserAction)) send(res, 204, "text/plain", "");
    else send(res, 404, "application/json", JSON.stringify({ __type: "UserNotFoundException", message: "User does not exist." }));
  } else {
    send(res, 404, "text/plain", "not found");
  }
}
