/**
 * The tenant proxy server process (started by main.ts).
 *   --config tenants.json          many tenants, chosen by Host (<slug>.proxy.<domain>)
 *   or single-tenant flags / env:  --issuer (AGENT_RUNNER_PROXY_ISSUER), --client-id (…_CLIENT_IDS, comma-separated),
 *                                  --upstream (…_UPSTREAM), --upstream-key-file (…_UPSTREAM_KEY_FILE) or
 *                                  --upstream-key-env NAME (…_UPSTREAM_KEY_ENV), --required-group (…_REQUIRED_GROUPS),
 *                                  --public-url (…_PUBLIC_URL), --slug (…_SLUG)
 *   --port (PORT, default 8080), --host (default 0.0.0.0), --trust-forwarded-headers
 */
import { parseArgs } from "node:util";
import { ConfigError, parseConfigFile, parseTenant, type ProxyConfig } from "./config.ts";
import { startProxy } from "./server.ts";

function fail(message: string): never {
  console.error(`agent-runner-proxy: ${message}`);
  process.exit(2);
}

const env = process.env;
let values;
try {
  ({ values } = parseArgs({
    options: {
      config: { type: "string" },
      issuer: { type: "string" },
      "client-id": { type: "string", multiple: true },
      upstream: { type: "string" },
      "upstream-key-file": { type: "string" },
      "upstream-key-env": { type: "string" },
      "required-group": { type: "string", multiple: true },
      "public-url": { type: "string" },
      slug: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      "trust-forwarded-headers": { type: "boolean" },
      "shutdown-grace": { type: "string" },
    },
  }));
} catch (e) {
  fail((e as Error).message);
}

let config: ProxyConfig;
try {
  const configPath = values.config ?? env.AGENT_RUNNER_PROXY_CONFIG;
  if (configPath) {
    config = parseConfigFile(configPath);
  } else {
    const list = (flag: string[] | undefined, variable: string | undefined) => flag ?? (variable ? variable.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
    const single = parseTenant(values.slug ?? env.AGENT_RUNNER_PROXY_SLUG ?? "default", {
      issuer: values.issuer ?? env.AGENT_RUNNER_PROXY_ISSUER,
      clientIds: list(values["client-id"], env.AGENT_RUNNER_PROXY_CLIENT_IDS),
      requiredGroups: list(values["required-group"], env.AGENT_RUNNER_PROXY_REQUIRED_GROUPS),
      upstream: values.upstream ?? env.AGENT_RUNNER_PROXY_UPSTREAM,
      upstreamApiKeyFile: values["upstream-key-file"] ?? env.AGENT_RUNNER_PROXY_UPSTREAM_KEY_FILE,
      upstreamApiKeyEnv: values["upstream-key-env"] ?? env.AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV,
      publicUrl: values["public-url"] ?? env.AGENT_RUNNER_PROXY_PUBLIC_URL,
    });
    config = { tenants: new Map([[single.slug, single]]), single, trustForwardedHeaders: false, shutdownGraceMs: 30_000 };
  }
} catch (e) {
  if (e instanceof ConfigError) fail(e.message);
  throw e;
}
if (values["trust-forwarded-headers"]) config.trustForwardedHeaders = true;
if (values["shutdown-grace"]) config.shutdownGraceMs = Number(values["shutdown-grace"]) * 1000;

const port = Number(values.port ?? env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number`);
const proxy = startProxy({ config, port, hostname: values.host ?? "0.0.0.0" });
console.error(JSON.stringify({ time: new Date().toISOString(), level: "info", message: `listening on ${proxy.url}`, tenants: config.single ? [config.single.slug] : [...config.tenants.keys()] }));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    console.error(JSON.stringify({ time: new Date().toISOString(), level: "info", message: `${signal}: draining requests in flight` }));
    void proxy.shutdown().then(() => process.exit(0));
  });
}
