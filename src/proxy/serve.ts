/**
 * The tenant proxy server process (started by main.ts).
 *   --config tenants.json          many tenants, chosen by Host (<slug>.proxy.<domain>)
 *   or single-tenant flags / env:  --issuer (AGENT_RUNNER_PROXY_ISSUER), --client-id (…_CLIENT_IDS, comma-separated),
 *                                  --upstream (…_UPSTREAM), --upstream-key-file (…_UPSTREAM_KEY_FILE) or
 *                                  --upstream-key-env NAME (…_UPSTREAM_KEY_ENV), --required-group (…_REQUIRED_GROUPS),
 *                                  --public-url (…_PUBLIC_URL), --slug (…_SLUG)
 *   --port (PORT, default 8080), --host (…_HOST, default 0.0.0.0), --trust-forwarded-headers (…_TRUST_FORWARDED_HEADERS=true)
 *   --metrics-port (…_METRICS_PORT, default 9464; 0 or "off" disables), --metrics-host (…_METRICS_HOST, default 127.0.0.1)
 *   --max-body-bytes (…_MAX_BODY_BYTES, default 32 MiB), --idle-timeout (…_IDLE_TIMEOUT, seconds, default 120)
 *   --state URL (…_STATE, default sqlite::memory:), --state-failure open|closed (…_STATE_FAILURE, default closed)
 *   --spool-dir DIR (…_SPOOL_DIR; default beside the SQLite file, or $XDG_STATE_HOME or /var/lib/agent-runner for Redis)
 *   --admin-group G (repeatable; …_ADMIN_GROUPS), --admin-key-file FILE (…_ADMIN_KEY_FILE)
 *   --reuse-port (SO_REUSEPORT; set by the --workers supervisor in main.ts)
 *   --no-userinfo (…_USERINFO=off): do not look up the email of email-as-username users at userInfo
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, parseConfigFile, parseIdleTimeout, parseMaxBodyBytes, parseTenant, type ProxyConfig } from "./config.ts";
import { startProxy } from "./http/server.ts";
import { DEFAULT_STATE_URL } from "./state/open.ts";
import { StateError } from "./state/types.ts";

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
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string" },
      "max-body-bytes": { type: "string" },
      "idle-timeout": { type: "string" },
      state: { type: "string" },
      "state-failure": { type: "string" },
      "spool-dir": { type: "string" },
      "admin-group": { type: "string", multiple: true },
      "admin-key-file": { type: "string" },
      "reuse-port": { type: "boolean" },
      "no-userinfo": { type: "boolean" },
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
/** A yes/no variable: true/1/yes/on or false/0/no/off, else the proxy stops with the variable named. */
function envSwitch(name: string): boolean | undefined {
  const value = env[name]?.toLowerCase();
  if (value === undefined || value === "") return undefined;
  if (["true", "1", "yes", "on"].includes(value)) return true;
  if (["false", "0", "no", "off"].includes(value)) return false;
  fail(`${name} must be true or false (also 1/0, yes/no, on/off), got ${JSON.stringify(env[name])}`);
}

// the flag, else the variable, else the configuration file's trustForwardedHeaders
const trustForwarded = values["trust-forwarded-headers"] ? true : envSwitch("AGENT_RUNNER_PROXY_TRUST_FORWARDED_HEADERS");
if (trustForwarded !== undefined) config.trustForwardedHeaders = trustForwarded;
try {
  // Flags and variables override the configuration file.
  const maxBody = values["max-body-bytes"] ?? env.AGENT_RUNNER_PROXY_MAX_BODY_BYTES;
  if (maxBody !== undefined) config.maxBodyBytes = parseMaxBodyBytes(maxBody, "--max-body-bytes");
  const idle = values["idle-timeout"] ?? env.AGENT_RUNNER_PROXY_IDLE_TIMEOUT;
  if (idle !== undefined) config.idleTimeoutSeconds = parseIdleTimeout(idle, "--idle-timeout");
} catch (e) {
  if (e instanceof ConfigError) fail(e.message);
  throw e;
}
if (values["shutdown-grace"]) config.shutdownGraceMs = Number(values["shutdown-grace"]) * 1000;

const port = Number(values.port ?? env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number`);
const host = values.host ?? env.AGENT_RUNNER_PROXY_HOST ?? "0.0.0.0";
const metricsPortText = values["metrics-port"] ?? env.AGENT_RUNNER_PROXY_METRICS_PORT ?? "9464";
const metricsPort = metricsPortText === "off" ? 0 : Number(metricsPortText);
if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) fail(`--metrics-port must be a port number, or 0 or "off" for no metrics listener`);
const metricsHost = values["metrics-host"] ?? env.AGENT_RUNNER_PROXY_METRICS_HOST ?? "127.0.0.1";
const stateUrl = values.state ?? env.AGENT_RUNNER_PROXY_STATE ?? DEFAULT_STATE_URL;
const stateFailure = values["state-failure"] ?? env.AGENT_RUNNER_PROXY_STATE_FAILURE ?? "closed";
if (stateFailure !== "open" && stateFailure !== "closed") fail(`--state-failure must be open or closed, got ${JSON.stringify(stateFailure)}`);
const spoolDir = values["spool-dir"] ?? env.AGENT_RUNNER_PROXY_SPOOL_DIR;
const adminGroups = values["admin-group"] ?? (env.AGENT_RUNNER_PROXY_ADMIN_GROUPS ? env.AGENT_RUNNER_PROXY_ADMIN_GROUPS.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
const adminKeyFile = values["admin-key-file"] ?? env.AGENT_RUNNER_PROXY_ADMIN_KEY_FILE;
let adminKey: string | undefined;
if (adminKeyFile) {
  try {
    adminKey = readFileSync(adminKeyFile, "utf8").trim();
  } catch (e) {
    fail(`cannot read the admin key file ${adminKeyFile}: ${(e as Error).message}`);
  }
  if (adminKey.length < 32 || /\s/.test(adminKey)) fail(`the admin key in ${adminKeyFile} must be at least 32 characters without spaces (e.g. openssl rand -hex 32)`);
}
let proxy;
try {
  proxy = startProxy({
    config,
    port,
    hostname: host,
    ...(metricsPort > 0 ? { metrics: { port: metricsPort, hostname: metricsHost } } : {}),
    state: stateUrl,
    stateFailure,
    ...(spoolDir ? { spoolDir } : {}),
    ...(adminGroups ? { adminGroups } : {}),
    ...(adminKey !== undefined ? { adminKey } : {}),
    // set by the --workers supervisor (main.ts, workers.ts) so its workers share the port
    reusePort: values["reuse-port"] === true,
    userInfo: !values["no-userinfo"] && env.AGENT_RUNNER_PROXY_USERINFO !== "off",
  });
} catch (e) {
  if (e instanceof StateError) fail(e.message);
  fail(`cannot listen (${host}:${port}, metrics ${metricsPort > 0 ? `${metricsHost}:${metricsPort}` : "off"}): ${(e as Error).message}; choose free ports with --port (PORT) and --metrics-port (AGENT_RUNNER_PROXY_METRICS_PORT): replicas on one host each need their own`);
}
const { store, failure, spoolDir: spool } = proxy.stateInForce;
console.error(
  JSON.stringify({
    time: new Date().toISOString(),
    level: "info",
    message: `listening on ${proxy.url}`,
    metrics: proxy.metricsUrl ?? "off",
    tenants: config.single ? [config.single.slug] : [...config.tenants.keys()],
    state: store,
    state_failure: failure,
    spool_dir: spool,
  }),
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    console.error(JSON.stringify({ time: new Date().toISOString(), level: "info", message: `${signal}: draining requests in flight` }));
    void proxy.shutdown().then(() => process.exit(0));
  });
}
