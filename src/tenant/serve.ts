/**
 * The local tenant (identity provider, proxy, stub Anthropic upstream) in one
 * process, all on 127.0.0.1. Prints one JSON line on stdout when ready; runs until SIGINT/SIGTERM.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { PolicyError } from "../shared/policy/errors.ts";
import { tlsFailureIn } from "../shared/tls-failure.ts";
import { checkPolicySpec } from "../proxy/policy/tenant-policies.ts";
import { adminUser, startTenant, DEFAULT_USERS } from "./tenant.ts";
import type { TenantUser } from "./idp.ts";

const USAGE = `Usage: npm run tenant -- [options]

Starts a local agent-runner tenant: a Cognito-like identity provider, the tenant proxy and a
stub Anthropic upstream, on 127.0.0.1. Prints one JSON line on stdout when ready.

Options:
  --port <n>                  proxy port, the tenant URL (0 picks a free one; default 0)
  --idp-port <n>              identity provider port (default 0)
  --access-token-ttl <s>      access and ID token lifetime in seconds (default 3600)
  --refresh-token-ttl <s>     refresh token lifetime in seconds (default 2592000, 30 days)
  --rotate-refresh-tokens     return a new refresh token on every refresh (Cognito rotation)
  --user <name:password[:group,...]>  add a user (repeatable; default user "demo")
  --redirect-port <n>         registered loopback redirect port (repeatable; default 53682 53683 53684)
  --slug <name>               tenant slug (default "acme")
  --required-group <name>     proxy admits only users in this Cognito group (repeatable)
  --tls-cert <pem> --tls-key <pem>  serve the IdP and the proxy over HTTPS as https://localhost
                              (start this and its clients with NODE_EXTRA_CA_CERTS=<the CA's PEM>)
  --replicas <n>              proxy processes, each on its own port (--port, --port+1, ...; or free
                              ports), sharing --state; their URLs are in "proxies" (default 1, in-process)
  --state <url>               the proxy's state: sqlite:/path/state.db or redis://host:6379/0
                              (default: in memory for 1 replica, a temporary SQLite file for several)
  --upstream <url>            forward to this upstream (another stub, https://api.anthropic.com)
                              instead of the local stub; needs --upstream-key-env
  --upstream-key-env <name>   the environment variable holding that upstream's key
  --upstreams <file>          forward through this pool instead (the gateway's --upstreams FILE:
                              {"upstreams": [...], "routing": {...}}; Anthropic keys, Bedrock)
  --stub-key-env <name>       the local stub's key from this environment variable (default: random);
                              the JSON line names it as "upstream_key", for a gateway you run in front
                              of the stub (never pass a key as an argument: argv is visible to all)
  --identity-provider <name>  announce this identity_provider (e.g. ExampleCorp) as the sign-in default
  --idp-identifier <id>       announce this idp_identifier (e.g. example.com) as the sign-in default
  --admin-group <name>        Cognito group whose members may use the proxy's admin API and the admin
                              console (default: admins); with the default users, adds user "admin"
                              (password admin-password-1) in it
  --policy <file>             the tenant policy (JSON or YAML, docs/policy.md) every proxy enforces;
                              watched, and read again on SIGHUP
  --revalidate-seconds <n>    re-check each active session at the IdP's userInfo this often, so a
                              user disabled or signed out there loses the gateway (default 60; 0: off)
  --alerts-webhook <url>      POST budget alerts here (signed with the secret of --alerts-secret-file)
  --alerts-secret-file <f>    the alerts' signing secret (at least 16 bytes; required with --alerts-webhook)
  -h, --help                  show this help
`;

function fail(message: string): never {
  process.stderr.write(`tenant: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) fail(`--${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got "${value}"`);
  return n;
}

function parseUser(spec: string): TenantUser {
  const [username, password, groups] = spec.split(":");
  if (!username || !password) fail(`--user must be name:password[:group,...], got "${spec}"`);
  return { username, password, groups: groups ? groups.split(",").filter(Boolean) : [] };
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: "string" },
      "idp-port": { type: "string" },
      "access-token-ttl": { type: "string" },
      "refresh-token-ttl": { type: "string" },
      "rotate-refresh-tokens": { type: "boolean" },
      user: { type: "string", multiple: true },
      "redirect-port": { type: "string", multiple: true },
      slug: { type: "string" },
      "required-group": { type: "string", multiple: true },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      replicas: { type: "string" },
      state: { type: "string" },
      upstream: { type: "string" },
      "upstream-key-env": { type: "string" },
      upstreams: { type: "string" },
      "stub-key-env": { type: "string" },
      "admin-group": { type: "string" },
      "identity-provider": { type: "string" },
      "idp-identifier": { type: "string" },
      policy: { type: "string" },
      "revalidate-seconds": { type: "string" },
      "alerts-webhook": { type: "string" },
      "alerts-secret-file": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }));
} catch (e) {
  fail((e as Error).message);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

// parsed options, typed (the functions below do not see `values` narrowed)
const opts = values;

function upstreamOption(): { upstream?: { url: string; apiKey: string }; upstreamsFile?: string } {
  const url = opts.upstream;
  if (opts.upstreams !== undefined) {
    if (url !== undefined || opts["upstream-key-env"] !== undefined || opts["stub-key-env"] !== undefined) fail("--upstreams names the whole pool: not with --upstream, --upstream-key-env or --stub-key-env");
    return { upstreamsFile: opts.upstreams };
  }
  const keyEnv = opts["upstream-key-env"];
  if (url === undefined && keyEnv === undefined) return {};
  if (url === undefined || keyEnv === undefined) fail("--upstream and --upstream-key-env go together");
  if (!/^https?:\/\/[^/]/.test(url)) fail(`--upstream must be an http(s) URL, got "${url}"`);
  const apiKey = process.env[keyEnv];
  if (!apiKey) fail(`--upstream-key-env ${keyEnv}: that environment variable is not set (it holds the upstream's key)`);
  return { upstream: { url, apiKey } };
}

/** A key the stub compares with the x-api-key header: printable ASCII without spaces (a header value). */
const STUB_KEY = /^[\x21-\x7e]{8,256}$/;

function stubKeyOption(): { stubKey?: string } {
  const keyEnv = opts["stub-key-env"];
  if (keyEnv === undefined) return {};
  if (opts.upstream !== undefined) fail("--stub-key-env sets the local stub's key; with --upstream there is no stub (its key comes from --upstream-key-env)");
  const stubKey = process.env[keyEnv];
  if (!stubKey) fail(`--stub-key-env ${keyEnv}: that environment variable is not set (it holds the stub's key)`);
  if (!STUB_KEY.test(stubKey)) fail(`--stub-key-env ${keyEnv}: the key must be 8 to 256 printable ASCII characters without spaces`);
  return { stubKey };
}

function stateOption(): { state?: string } {
  const state = opts.state;
  if (state === undefined) return {};
  if (!/^(sqlite:|redis:\/\/|rediss:\/\/)/.test(state)) fail(`--state must be sqlite:/path/state.db, sqlite::memory: or redis://host:6379/0, got "${state}"`);
  if (state === "sqlite::memory:" && Number(opts.replicas ?? 1) > 1) fail("--state sqlite::memory: cannot be shared by several replicas; give a file or a Redis URL");
  return { state };
}

function alertsOption(): { alerts?: { webhook: string; secretFile: string } } {
  const webhook = opts["alerts-webhook"];
  const secretFile = opts["alerts-secret-file"];
  if (webhook === undefined && secretFile === undefined) return {};
  if (webhook === undefined || secretFile === undefined) fail("--alerts-webhook and --alerts-secret-file go together");
  return { alerts: { webhook, secretFile } };
}

/** A default, so that `npm run tenant` serves a console someone can sign in to. */
const adminGroup = opts["admin-group"] ?? "admins";
if (!/^[\w.@+-]{1,128}$/.test(adminGroup)) fail(`--admin-group must be a Cognito group name, got "${adminGroup}"`);
const users = opts.user ? opts.user.map(parseUser) : [...DEFAULT_USERS, adminUser(adminGroup)];

function policyOption(): { policy?: string } {
  const file = opts.policy;
  if (file === undefined) return {};
  try {
    checkPolicySpec({ path: resolve(file) });
  } catch (e) {
    if (e instanceof PolicyError) fail(`--policy: ${e.lines()[0] ?? e.message}`);
    throw e;
  }
  return { policy: resolve(file) };
}

const tenant = await startTenant({
  ...policyOption(),
  port: positiveInt("port", values.port, 0, true),
  idpPort: positiveInt("idp-port", values["idp-port"], 0, true),
  accessTokenTtl: positiveInt("access-token-ttl", values["access-token-ttl"], 3600),
  refreshTokenTtl: positiveInt("refresh-token-ttl", values["refresh-token-ttl"], 30 * 24 * 3600),
  rotateRefreshTokens: values["rotate-refresh-tokens"] ?? false,
  users,
  replicas: positiveInt("replicas", values.replicas, 1),
  ...stateOption(),
  ...upstreamOption(),
  ...stubKeyOption(),
  adminGroup,
  ...(values["revalidate-seconds"] !== undefined ? { revalidateSeconds: positiveInt("revalidate-seconds", values["revalidate-seconds"], 60, true) } : {}),
  ...alertsOption(),
  // the gateway's own switch, honoured by the local tenant's proxy too
  userInfo: process.env.AGENT_RUNNER_PROXY_USERINFO !== "off",
  signInDefaults: {
    ...(values["identity-provider"] ? { identity_provider: values["identity-provider"] } : {}),
    ...(values["idp-identifier"] ? { idp_identifier: values["idp-identifier"] } : {}),
  },
  redirectPorts: values["redirect-port"]?.map((p) => positiveInt("redirect-port", p, 0)),
  slug: values.slug,
  requiredGroups: values["required-group"],
  ...(values["tls-cert"] || values["tls-key"]
    ? values["tls-cert"] && values["tls-key"]
      ? { tls: { certFile: values["tls-cert"], keyFile: values["tls-key"] } }
      : fail("--tls-cert and --tls-key go together")
    : {}),
}).catch((e: Error) => {
  // with --tls-cert the tenant fetches from itself (the gateway the IdP's keys): its own trust first
  const hint = tlsFailureIn(e) ? "; this process does not trust the --tls-cert certificate: start the tenant, the CLI and Claude Code with NODE_EXTRA_CA_CERTS=<the CA's PEM file>" : "";
  process.stderr.write(`tenant: could not start: ${e.message}${hint}\n`);
  process.exit(1);
});

process.stdout.write(JSON.stringify(tenant.info) + "\n");
// for a person at the terminal (stdout keeps only the JSON line)
const consoleAdmin = opts.user ? `sign in as a member of ${adminGroup}` : `sign in as admin / admin-password-1 (group ${adminGroup})`;
process.stderr.write(`tenant: admin console at ${tenant.info.console} (${consoleAdmin})\n`);

process.on("SIGHUP", () => tenant.reload());
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void tenant.stop().then(() => process.exit(0));
  });
}
