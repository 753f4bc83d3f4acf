/**
 * The gateway process's options, read once from the command line and the environment (flags win
 * over variables, which win over the configuration file), for the single process, each worker
 * and the supervisor alike. Everything is checked here, before any listener is bound, so a bad
 * value is reported as itself (never hidden by a busy port), with the flag named.
 *   --config tenants.json          many tenants, chosen by Host (<slug>.proxy.<domain>)
 *   or single-tenant flags / env:  --issuer (AGENT_RUNNER_PROXY_ISSUER), --client-id (…_CLIENT_IDS, comma-separated),
 *                                  --upstream (…_UPSTREAM), --upstream-key-file (…_UPSTREAM_KEY_FILE) or
 *                                  --upstream-key-env NAME (…_UPSTREAM_KEY_ENV), or instead a pool:
 *                                  --upstreams FILE (…_UPSTREAMS: {"upstreams": [...], "routing": {...}}),
 *                                  --required-group (…_REQUIRED_GROUPS),
 *                                  --public-url (…_PUBLIC_URL), --slug (…_SLUG)
 *   --port (PORT, default 8080), --host (…_HOST, default 0.0.0.0), --trust-forwarded-headers (…_TRUST_FORWARDED_HEADERS=true)
 *   --metrics-port (…_METRICS_PORT, default 9464; 0 or "off" disables), --metrics-host (…_METRICS_HOST, default 127.0.0.1)
 *   --max-body-bytes (…_MAX_BODY_BYTES, default 32 MiB), --idle-timeout (…_IDLE_TIMEOUT, seconds, default 120)
 *   --shutdown-grace SECONDS (default the file's shutdownGraceSeconds, else 30)
 *   --state URL (…_STATE, default sqlite::memory:), --state-failure open|closed (…_STATE_FAILURE, default closed)
 *   --spool-dir DIR (…_SPOOL_DIR; default beside the SQLite file, or $XDG_STATE_HOME or /var/lib/agent-runner for Redis)
 *   --admin-group G (repeatable; …_ADMIN_GROUPS), --admin-key-file FILE (…_ADMIN_KEY_FILE)
 *   --reuse-port (SO_REUSEPORT; set by the --workers supervisor for its workers)
 *   --no-userinfo (…_USERINFO=off): do not look up the email of email-as-username users at userInfo
 *   --policy FILE (…_POLICY): the single tenant's policy (docs/policy.md); a tenant of --config has its own `policy`
 *   --revalidate-seconds N (…_REVALIDATE_SECONDS, default 60, 0 = off): every tenant without its own revalidateSeconds
 *   --alerts-webhook URL (…_ALERTS_WEBHOOK), --alerts-secret-file F (…_ALERTS_SECRET_FILE): the single tenant's budget alerts
 *   --console-client-id ID (…_CONSOLE_CLIENT_ID), --console-redirect-uri URL (…_CONSOLE_REDIRECT_URI),
 *   --console-logout-uri URL (…_CONSOLE_LOGOUT_URI): the single tenant's admin console (docs/console.md)
 * `--workers` is main.ts's (workers.ts): taken out before these are read.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, parseAlerts, parseConfigFile, parseRevalidateSeconds, parseIdleTimeout, parseMaxBodyBytes, parseTenant, type ProxyConfig } from "./config.ts";
import { PolicyError } from "../shared/policy/errors.ts";
import { POLICY_ENV } from "./policy/source.ts";
import { checkPolicySpec } from "./policy/tenant-policies.ts";
import { parseStateUrl } from "./state/open.ts";
import { type PoolConfig, readUpstreamsFile } from "./upstreams/config.ts";
import { keyInText } from "./upstreams/key-source.ts";
import { UpstreamError } from "./upstreams/types.ts";
import type { FailurePolicy } from "./state/resilient.ts";
import { StateError } from "./state/types.ts";

/** A bad option or variable: the process exits 2 with the message (docs/deploy.md). */
export class ProxyOptionsError extends Error {
  override readonly name = "ProxyOptionsError";
  readonly code = "proxy_options";
}

export interface ProxyProcessOptions {
  config: ProxyConfig;
  host: string;
  /** 0: any free port. */
  port: number;
  /** The metrics listener; null when turned off (0 or "off"). */
  metrics: { host: string; port: number } | null;
  /** The `--state` URL as given (checked); undefined: not given (one process: in memory; workers: a shared temporary file). */
  state: string | undefined;
  stateFailure: FailurePolicy;
  spoolDir: string | undefined;
  adminGroups: string[] | undefined;
  /** Read from `--admin-key-file`: at least 32 characters, no spaces. */
  adminKey: string | undefined;
  reusePort: boolean;
  /** Look up the e-mail of email-as-username people at the IdP's userInfo. */
  userInfo: boolean;
}

/** The option table; `strict`: an unknown flag is refused. */
export const PROXY_OPTIONS = {
  config: { type: "string" },
  issuer: { type: "string" },
  "client-id": { type: "string", multiple: true },
  upstream: { type: "string" },
  "upstream-key-file": { type: "string" },
  "upstream-key-env": { type: "string" },
  upstreams: { type: "string" },
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
  policy: { type: "string" },
  "revalidate-seconds": { type: "string" },
  "alerts-webhook": { type: "string" },
  "alerts-secret-file": { type: "string" },
  "console-client-id": { type: "string" },
  "console-redirect-uri": { type: "string" },
  "console-logout-uri": { type: "string" },
} as const;

/** The options of the flags a `--workers` supervisor sets per worker (workers.ts rewrites them). */
export const PER_WORKER_OPTIONS = ["port", "host", "metrics-port", "metrics-host", "state", "reuse-port"] as const;

export function readProxyOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ProxyProcessOptions {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: PROXY_OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new ProxyOptionsError((e as Error).message, { cause: e });
  }
  try {
    const config = readConfig(values, env);
    checkKeySources(config, env);
    const port = portNumber(values.port ?? env.PORT ?? "8080", `--port must be a port number`);
    const metricsText = values["metrics-port"] ?? env.AGENT_RUNNER_PROXY_METRICS_PORT ?? "9464";
    const metricsPort = metricsText === "off" ? 0 : portNumber(metricsText, `--metrics-port must be a port number, or 0 or "off" for no metrics listener`);
    const state = values.state ?? env.AGENT_RUNNER_PROXY_STATE;
    if (state !== undefined) parseStateUrl(state);
    const stateFailure = values["state-failure"] ?? env.AGENT_RUNNER_PROXY_STATE_FAILURE ?? "closed";
    if (stateFailure !== "open" && stateFailure !== "closed") throw new ProxyOptionsError(`--state-failure must be open or closed, got ${JSON.stringify(stateFailure)}`);
    return {
      config,
      host: values.host ?? env.AGENT_RUNNER_PROXY_HOST ?? "0.0.0.0",
      port,
      metrics: metricsPort > 0 ? { host: values["metrics-host"] ?? env.AGENT_RUNNER_PROXY_METRICS_HOST ?? "127.0.0.1", port: metricsPort } : null,
      state,
      stateFailure,
      spoolDir: values["spool-dir"] ?? env.AGENT_RUNNER_PROXY_SPOOL_DIR,
      adminGroups: values["admin-group"] ?? list(env.AGENT_RUNNER_PROXY_ADMIN_GROUPS),
      adminKey: readAdminKey(values["admin-key-file"] ?? env.AGENT_RUNNER_PROXY_ADMIN_KEY_FILE),
      reusePort: values["reuse-port"] === true,
      userInfo: !values["no-userinfo"] && env.AGENT_RUNNER_PROXY_USERINFO !== "off",
    };
  } catch (e) {
    if (e instanceof ConfigError || e instanceof StateError || e instanceof UpstreamError) throw new ProxyOptionsError(e.message, { cause: e });
    throw e;
  }
}

type Values = ReturnType<typeof parseArgs<{ options: typeof PROXY_OPTIONS }>>["values"];

/** The tenants (a file, or one from flags and variables), then the flags and variables that override the file. */
function readConfig(values: Values, env: NodeJS.ProcessEnv): ProxyConfig {
  const configPath = values.config ?? env.AGENT_RUNNER_PROXY_CONFIG;
  const upstreamsPath = values.upstreams ?? env.AGENT_RUNNER_PROXY_UPSTREAMS;
  let config: ProxyConfig;
  if (configPath) {
    if (upstreamsPath) throw new ProxyOptionsError("--upstreams (AGENT_RUNNER_PROXY_UPSTREAMS) is for the single-tenant flags; with --config give each tenant its \"upstreams\" in the tenants file");
    if (values.policy !== undefined) throw new ProxyOptionsError(`--policy is for the single-tenant flags; with --config, set "policy" in each tenant's entry`);
    if (consoleValues(values, env).some((v) => v !== undefined)) throw new ProxyOptionsError(`--console-client-id, --console-redirect-uri and --console-logout-uri are for the single-tenant flags; with --config, set "console" in each tenant's entry`);
    config = parseConfigFile(configPath);
  } else {
    const single = parseTenant(
      values.slug ?? env.AGENT_RUNNER_PROXY_SLUG ?? "default",
      {
        issuer: values.issuer ?? env.AGENT_RUNNER_PROXY_ISSUER,
        clientIds: values["client-id"] ?? list(env.AGENT_RUNNER_PROXY_CLIENT_IDS),
        requiredGroups: values["required-group"] ?? list(env.AGENT_RUNNER_PROXY_REQUIRED_GROUPS),
        upstream: values.upstream ?? env.AGENT_RUNNER_PROXY_UPSTREAM,
        upstreamApiKeyFile: values["upstream-key-file"] ?? env.AGENT_RUNNER_PROXY_UPSTREAM_KEY_FILE,
        upstreamApiKeyEnv: values["upstream-key-env"] ?? env.AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV,
        publicUrl: values["public-url"] ?? env.AGENT_RUNNER_PROXY_PUBLIC_URL,
        policy: values.policy ?? env[POLICY_ENV],
        console: consoleOf(values, env),
      },
      { single: true, ...(upstreamsPath ? { pool: poolFile(upstreamsPath, values, env) } : {}) },
    );
    config = { tenants: new Map([[single.slug, single]]), single, trustForwardedHeaders: false, shutdownGraceMs: 30_000 };
  }
  for (const tenant of config.tenants.values()) checkFirstPolicy(tenant.slug, tenant.policy);
  // the flag, else the variable, else the configuration file's trustForwardedHeaders
  const trustForwarded = values["trust-forwarded-headers"] ? true : envSwitch(env, "AGENT_RUNNER_PROXY_TRUST_FORWARDED_HEADERS");
  if (trustForwarded !== undefined) config.trustForwardedHeaders = trustForwarded;
  const maxBody = values["max-body-bytes"] ?? env.AGENT_RUNNER_PROXY_MAX_BODY_BYTES;
  if (maxBody !== undefined) config.maxBodyBytes = parseMaxBodyBytes(maxBody, "--max-body-bytes");
  const idle = values["idle-timeout"] ?? env.AGENT_RUNNER_PROXY_IDLE_TIMEOUT;
  if (idle !== undefined) config.idleTimeoutSeconds = parseIdleTimeout(idle, "--idle-timeout");
  const revalidate = values["revalidate-seconds"] ?? env.AGENT_RUNNER_PROXY_REVALIDATE_SECONDS;
  if (revalidate !== undefined) {
    const seconds = parseRevalidateSeconds(revalidate, "--revalidate-seconds");
    // a tenant entry's own revalidateSeconds wins over the flag
    for (const tenant of config.tenants.values()) tenant.revalidateSeconds ??= seconds;
  }
  const webhook = values["alerts-webhook"] ?? env.AGENT_RUNNER_PROXY_ALERTS_WEBHOOK;
  const secretFile = values["alerts-secret-file"] ?? env.AGENT_RUNNER_PROXY_ALERTS_SECRET_FILE;
  if (webhook !== undefined || secretFile !== undefined) {
    if (!config.single) throw new ProxyOptionsError("--alerts-webhook and --alerts-secret-file are for a single tenant: with --config, set alerts in each tenant's entry");
    config.single.alerts = parseAlerts({ webhook, ...(secretFile !== undefined ? { secretFile } : {}) }, "--alerts-webhook / --alerts-secret-file");
  }
  const grace = values["shutdown-grace"];
  if (grace !== undefined) {
    const seconds = grace.trim() === "" ? NaN : Number(grace);
    if (!Number.isFinite(seconds) || seconds < 0) throw new ProxyOptionsError(`--shutdown-grace must be a number of seconds (0 or more), got ${JSON.stringify(grace)}`);
    config.shutdownGraceMs = seconds * 1000;
  }
  return config;
}

const consoleValues = (values: Values, env: NodeJS.ProcessEnv) => [
  values["console-client-id"] ?? env.AGENT_RUNNER_PROXY_CONSOLE_CLIENT_ID,
  values["console-redirect-uri"] ?? env.AGENT_RUNNER_PROXY_CONSOLE_REDIRECT_URI,
  values["console-logout-uri"] ?? env.AGENT_RUNNER_PROXY_CONSOLE_LOGOUT_URI,
];

/** The single tenant's `console` from its flags or variables; undefined when none is given (checked by parseTenant). */
function consoleOf(values: Values, env: NodeJS.ProcessEnv): Record<string, string | undefined> | undefined {
  const [clientId, redirectUri, logoutUri] = consoleValues(values, env);
  if (clientId === undefined && redirectUri === undefined && logoutUri === undefined) return undefined;
  if (clientId === undefined || redirectUri === undefined) throw new ProxyOptionsError("the admin console needs both --console-client-id and --console-redirect-uri (or AGENT_RUNNER_PROXY_CONSOLE_CLIENT_ID and …_CONSOLE_REDIRECT_URI)");
  return { clientId, redirectUri, ...(logoutUri !== undefined ? { logoutUri } : {}) };
}

/** `--upstreams FILE`: the pool, instead of the one upstream of --upstream and its key (never both). */
function poolFile(path: string, values: Values, env: NodeJS.ProcessEnv): PoolConfig {
  const both = [
    ["--upstream", values.upstream ?? env.AGENT_RUNNER_PROXY_UPSTREAM],
    ["--upstream-key-file", values["upstream-key-file"] ?? env.AGENT_RUNNER_PROXY_UPSTREAM_KEY_FILE],
    ["--upstream-key-env", values["upstream-key-env"] ?? env.AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV],
  ].filter(([, v]) => v !== undefined).map(([flag]) => flag);
  if (both.length > 0) throw new ProxyOptionsError(`--upstreams names the whole pool: drop ${both.join(" and ")} (or their variables), or put that upstream in the file`);
  return readUpstreamsFile(path);
}

/**
 * Every Anthropic key file readable and holding a key, every key variable set: said now, naming
 * the upstream, rather than by each worker failing to start. (The pool opens them again when it
 * is built, and keeps watching the files; AWS credentials are resolved then.)
 */
function checkKeySources(config: ProxyConfig, env: NodeJS.ProcessEnv): void {
  for (const tenant of config.single ? [config.single] : config.tenants.values()) {
    for (const member of tenant.pool.upstreams) {
      if (member.type !== "anthropic" || member.key.kind === "inline") continue;
      const where = `tenant ${tenant.slug}, upstream ${member.name}`;
      if (member.key.kind === "env") {
        if (keyInText(env[member.key.name] ?? "") === undefined) throw new ProxyOptionsError(`${where}: the environment variable ${member.key.name} (its API key) is not set, or holds more than the key`);
        continue;
      }
      let text: string;
      try {
        text = readFileSync(member.key.path, "utf8");
      } catch (e) {
        throw new ProxyOptionsError(`${where}: cannot read the upstream key file ${member.key.path}: ${(e as Error).message}`, { cause: e });
      }
      if (keyInText(text) === undefined) throw new ProxyOptionsError(`${where}: the key file ${member.key.path} is empty or holds more than the key (write the key alone, on one line)`);
    }
  }
}

/** The gateway does not start without its policy: an invalid or missing first file is exit 2 with the member named. */
function checkFirstPolicy(slug: string, spec: Parameters<typeof checkPolicySpec>[0] | undefined): void {
  if (!spec) return;
  try {
    checkPolicySpec(spec);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    const more = e.lines().length > 1 ? ` (and ${e.lines().length - 1} more; agent-runner-auth admin policy check lists them)` : "";
    throw new ProxyOptionsError(`tenant ${slug}: policy ${e.lines()[0] ?? e.message}${more}`, { cause: e });
  }
}

/** A comma-separated variable as a list (empty items dropped). */
function list(variable: string | undefined): string[] | undefined {
  return variable ? variable.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
}

function portNumber(text: string, message: string): number {
  const port = text.trim() === "" ? NaN : Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ProxyOptionsError(message);
  return port;
}

/** A yes/no variable: true/1/yes/on or false/0/no/off; anything else is refused with the variable named. */
function envSwitch(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const value = env[name]?.toLowerCase();
  if (value === undefined || value === "") return undefined;
  if (["true", "1", "yes", "on"].includes(value)) return true;
  if (["false", "0", "no", "off"].includes(value)) return false;
  throw new ProxyOptionsError(`${name} must be true or false (also 1/0, yes/no, on/off), got ${JSON.stringify(env[name])}`);
}

function readAdminKey(file: string | undefined): string | undefined {
  if (!file) return undefined;
  let key: string;
  try {
    key = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new ProxyOptionsError(`cannot read the admin key file ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (key.length < 32 || /\s/.test(key)) throw new ProxyOptionsError(`the admin key in ${file} must be at least 32 characters without spaces (e.g. openssl rand -hex 32)`);
  return key;
}
