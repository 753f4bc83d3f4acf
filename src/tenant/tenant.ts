/** Starts the local tenant's parts on 127.0.0.1 and describes them. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createIdp, type Idp, type TenantUser } from "./idp.ts";
import { buildTenantDiscovery, DISCOVERY_PATH, type CliClientConfig } from "../shared/tenant-discovery.ts";

export const DEFAULT_USERS: TenantUser[] = [
  { username: "demo", password: "demo-password-1", email: "demo@example.invalid", groups: ["developers"] },
];
export const DEFAULT_REDIRECT_PORTS = [53682, 53683, 53684];
export const POOL_ID = "local_AgentRunner";
export const CLIENT_ID = "agent-runner-cli";

export interface TenantOptions {
  port: number;
  idpPort: number;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  rotateRefreshTokens: boolean;
  users: TenantUser[];
  redirectPorts?: number[];
  slug?: string;
}

/** The JSON line the tenant prints when ready. */
export interface TenantInfo {
  tenant: string;
  issuer: string;
  client_id: string;
  users: { username: string; password: string }[];
  admin: string;
}

export interface RunningTenant {
  info: TenantInfo;
  idp: Idp;
  stop(): Promise<void>;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startTenant(options: TenantOptions): Promise<RunningTenant> {
  const idpServer = createServer();
  const idpPort = await listen(idpServer, options.idpPort);
  const origin = `http://127.0.0.1:${idpPort}`;
  const redirectUris = (options.redirectPorts ?? DEFAULT_REDIRECT_PORTS).map((p) => `http://localhost:${p}/callback`);
  const idp = await createIdp({
    origin,
    poolId: POOL_ID,
    clientId: CLIENT_ID,
    redirectUris,
    users: options.users,
    accessTokenTtl: options.accessTokenTtl,
    refreshTokenTtl: options.refreshTokenTtl,
    rotateRefreshTokens: options.rotateRefreshTokens,
  });
  const client: CliClientConfig = {
    client_id: CLIENT_ID,
    redirect_uris: redirectUris,
    scopes: idp.scopes,
    refresh_token_lifetime_seconds: options.refreshTokenTtl,
    access_token_lifetime_seconds: options.accessTokenTtl,
  };
  const tenantUrl = origin;
  const discovery = JSON.stringify(buildTenantDiscovery(tenantUrl, idp.issuer, client, `agent-runner tenant ${options.slug ?? "acme"}`));
  idpServer.on("request", (req, res) => {
    if ((req.url ?? "").split("?")[0] === DISCOVERY_PATH) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=300" });
      res.end(discovery);
      return;
    }
    idp.handle(req, res);
  });

  return {
    info: {
      tenant: tenantUrl,
      issuer: idp.issuer,
      client_id: CLIENT_ID,
      users: options.users.map(({ username, password }) => ({ username, password })),
      admin: `${origin}/_admin`,
    },
    idp,
    stop: () =>
      new Promise<void>((resolve) => {
        idpServer.close(() => resolve());
        idpServer.closeAllConnections();
      }),
  };
}
