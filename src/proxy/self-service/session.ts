/**
 * GET session: whether this access token is still accepted. The endpoint table runs the same
 * steps as the API first (verify, then the denylist), so a revoked person or a signed-out
 * session gets the API's refusal; this only answers the accepted case, in a tiny body.
 */
import { iso, jsonAnswer } from "../http/answers.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { SessionAnswerJson } from "../../shared/gateway-api.ts";

export async function session(ex: TenantExchange): Promise<Response> {
  const user = ex.user as NonNullable<TenantExchange["user"]>;
  return jsonAnswer({ active: true, expires_at: iso(user.exp * 1000) } satisfies SessionAnswerJson);
}
