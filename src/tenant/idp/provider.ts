/** One oidc-provider instance over the configuration, with the stats events and Cognito's response quirks. */
import Provider, { type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import type { IdpStats } from "./admin.ts";

export function createProvider(issuer: string, configuration: Configuration, rotateRefreshTokens: boolean, stats: IdpStats): Provider {
  const p = new Provider(issuer, configuration);
  p.proxy = false;
  const count = (into: Record<string, number>) => (ctx: KoaContextWithOIDC) => {
    const type = String(ctx.oidc.params?.grant_type ?? "unknown");
    into[type] = (into[type] ?? 0) + 1;
  };
  p.on("grant.success", count(stats.grants));
  p.on("grant.error", count(stats.grantErrors));
  p.on("authorization.success", () => {
    stats.authorizations++;
  });
  // Cognito returns no refresh_token on a refresh grant unless rotation is on, and does not
  // advertise PKCE in its discovery document (clients must send S256 regardless).
  p.use(async (ctx, next) => {
    await next();
    if (ctx.path === "/.well-known/openid-configuration" && typeof ctx.body === "object" && ctx.body !== null) {
      delete (ctx.body as Record<string, unknown>).code_challenge_methods_supported;
    }
    if (
      !rotateRefreshTokens &&
      ctx.path === "/oauth2/token" &&
      ctx.method === "POST" &&
      ctx.status === 200 &&
      ctx.oidc?.params?.grant_type === "refresh_token" &&
      typeof ctx.body === "object" &&
      ctx.body !== null
    ) {
      delete (ctx.body as Record<string, unknown>).refresh_token;
    }
  });
  return p;
}
