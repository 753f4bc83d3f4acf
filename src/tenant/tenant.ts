/** Starts the local tenant's parts on 127.0.0.1 and describes them. */
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createIdp, type Idp, type TenantUser } from "./idp.ts";
import { randomBytes } from "node:crypto";
import type { CliClientConfig } from "../shared/tenant-discovery.ts";
import { startStubUpstream } from "./stub-upstream.ts";
import { startProxy, type LogLine } from "../proxy/http/server.ts";
import type { TenantConfig } from "../proxy/config.ts";

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
  requiredGroups?: string[];
  /** Where the proxy's log lines go (default: stderr, so stdout keeps only the JSON line). */
  log?: (line: LogLine) => void;
  /** Serve the IdP and the proxy over TLS with this certificate (for https://localhost). */
  tls?: { certFile: string; keyFile: string };
}

/** The JSON line the tenant prints when ready. */
export interface TenantInfo {
  tenant: string;
  issuer: string;
  client_id: string;
  users: { username: string; password: string }[];
  admin: string;
  /** The stub Anthropic upstream, for calling it directly (benchmarks). */
  upstream: string;
  /** The proxy's Prometheus metrics: a separate loopback listener, never the tenant URL. */
  metrics: string;
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
  const tls = options.tls ? { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) } : undefined;
  const idpServer: Server = tls ? (createTlsServer(tls) as unknown as Server) : createServer();
  const idpPort = await listen(idpServer, options.idpPort);
  // With TLS the name is localhost (what the certificate names); without, the loopback address.
  const origin = tls ? `https://localhost:${idpPort}` : `http://127.0.0.1:${idpPort}`;
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
  idpServer.on("request", (req, res) => idp.handle(req, res));

  // The tenant's real Anthropic key never leaves this process: the proxy adds it upstream.
  const upstreamKey = `sk-ant-local-${randomBytes(16).toString("hex")}`;
  const upstream = startStubUpstream({ apiKey: upstreamKey });
  const tenantConfig: TenantConfig = {
    slug: options.slug ?? "acme",
    issuer: idp.issuer,
    jwksUri: `${idp.issuer}/.well-known/jwks.json`,
    clientIds: [CLIENT_ID],
    requiredGroups: options.requiredGroups ?? [],
    upstream: upstream.url,
    upstreamApiKey: upstreamKey,
    cli: client,
  };
  const proxy = startProxy({
    config: { tenants: new Map([[tenantConfig.slug, tenantConfig]]), single: tenantConfig, trustForwardedHeaders: false, shutdownGraceMs: 5000 },
    port: options.port,
    hostname: "127.0.0.1",
    metrics: { port: 0, hostname: "127.0.0.1" },
    ...(tls ? { tls: { cert: tls.cert.toString(), key: tls.key.toString() }, publicHost: "localhost" } : {}),
    log: options.log ?? ((line: LogLine) => process.stderr.write(JSON.stringify(line) + "\n")),
  });
  await proxy.ready();
  const tenantUrl = proxy.url;

  return {
    info: {
      tenant: tenantUrl,
      issuer: idp.issuer,
      client_id: CLIENT_ID,
      users: options.users.map(({ username, password }) => ({ username, password })),
      admin: `${origin}/_admin`,
      upstream: upstream.url,
      metrics: `${proxy.metricsUrl}/metrics`,
    },
    idp,
    stop: async () => {
      await proxy.shutdown(2000);
      upstream.stop();
      await new Promise<void>((resolve) => {
        idpServer.close(() => resolve());
        idpServer.closeAllConnections();
      });
    },
  };
}
