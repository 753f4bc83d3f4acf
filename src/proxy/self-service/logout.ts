/** POST logout: the caller's own session (every token refreshed from that sign-in) denylisted until its token has expired. */
import { sessionOf } from "../auth/person.ts";
import { CLOCK_SKEW_SECONDS } from "../auth/verify.ts";
import { iso, jsonAnswer } from "../http/answers.ts";
import { BadInput } from "../http/errors.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { LogoutAnswer } from "../../shared/gateway-api.ts";

export async function logout(ex: TenantExchange): Promise<Response> {
  const user = ex.user as NonNullable<TenantExchange["user"]>;
  const session = sessionOf(user);
  if (!session) throw new BadInput("this access token names no session (origin_jti or jti): nothing to sign out");
  // until the token (and every token refreshed in this session so far) has expired
  const until = Math.max((user.exp + CLOCK_SKEW_SECONDS) * 1000, Date.now() + 1000);
  await ex.ctx.state.revoke({ tenant: ex.runtime.config.slug, kind: "origin_jti", value: session, until, at: Date.now(), by: "logout" });
  ex.ctx.denylist.forget();
  return jsonAnswer({ revoked: "session", until: iso(until) } satisfies LogoutAnswer);
}
