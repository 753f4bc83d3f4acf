/**
 * Tokens for the proxy's verification tests, signed with a key the test controls and published
 * by a small JWKS server, so every claim can be bent: issuer, token_use, client_id, times, kid.
 */
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";

export interface Forge {
  issuer: string;
  jwksUri: string;
  publicJwk: JWK;
  sign(claims?: Partial<JWTPayload> & Record<string, unknown>, header?: Record<string, unknown>, key?: CryptoKey): Promise<string>;
  otherKey(): Promise<CryptoKey>;
  jwksFetches(): number;
  addKey(kid: string): Promise<CryptoKey>;
  /** Its userInfo answers this status from now on (default 200 `{sub}`); how many times it was asked. */
  userInfoStatus(status: number): void;
  userInfoCalls(): number;
  stop(): void;
}

export async function startForge(): Promise<Forge> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: "forge-key-1", alg: "RS256", use: "sig" };
  const keys: JWK[] = [publicJwk];
  let fetches = 0;
  let userInfoStatus = 200;
  let userInfoCalls = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request): Response {
      const path = new URL(request.url).pathname;
      if (path.endsWith("/.well-known/openid-configuration")) return Response.json({ issuer: `http://127.0.0.1:${server.port}/local_Forge`, userinfo_endpoint: `http://127.0.0.1:${server.port}/local_Forge/oauth2/userInfo` });
      if (path.endsWith("/oauth2/userInfo")) {
        userInfoCalls++;
        return userInfoStatus === 200 ? Response.json({ sub: "forged" }) : new Response("issuer trouble", { status: userInfoStatus });
      }
      if (path.endsWith("/.well-known/jwks.json")) {
        fetches++;
        return Response.json({ keys });
      }
      return new Response("not found", { status: 404 });
    },
  });
  const issuer: string = `http://127.0.0.1:${server.port}/local_Forge`;
  return {
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    publicJwk,
    async sign(claims = {}, header = {}, key = privateKey) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({
        sub: "0f9e8d7c-1111-4222-a333-444455556666",
        token_use: "access",
        client_id: "agent-runner-cli",
        username: "alice",
        scope: "openid email profile",
        "cognito:groups": ["developers"],
        iss: issuer,
        iat: now,
        exp: now + 3600,
        jti: crypto.randomUUID(),
        ...claims,
      })
        .setProtectedHeader({ alg: "RS256", kid: "forge-key-1", ...header })
        .sign(key);
    },
    async otherKey() {
      return (await generateKeyPair("RS256")).privateKey;
    },
    jwksFetches: () => fetches,
    userInfoStatus: (status) => void (userInfoStatus = status),
    userInfoCalls: () => userInfoCalls,
    async addKey(kid) {
      const pair = await generateKeyPair("RS256", { extractable: true });
      keys.push({ ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" });
      return pair.privateKey;
    },
    stop: () => server.stop(true),
  };
}
