/**
 * The one place the real side effects are wired (gh's cmdutil.Factory): stdout/stderr, the
 * environment, the clock, profile files, the secret stores, the profile lock, the IdP, the
 * browser and the terminal. Each adaptor loads its module only when called, so the `token`
 * command's cached path loads nothing it does not use (see scripts/build.ts, docs/benchmarks.md).
 */
import type { CommandContext, OAuthPort } from "./context.ts";
import type { TlsTrust } from "./oauth/bounded-fetch.ts";
import { profilePath, readProfile, requireProfile, writeProfile, type Profile, type TrustSource } from "./config.ts";
import { openStore } from "./store/open.ts";
import { fileHandouts } from "./session/handouts.ts";

/**
 * Status output: plain text on stderr, written synchronously (ordered with the exit). Not
 * console.error, which colours its output on a terminal; node:fs only loads when something is said.
 */
export const say = (line: string): void => {
  (require("node:fs") as typeof import("node:fs")).writeSync(2, line + "\n");
};


/** Loaded on demand: environment.ts needs node:fs, which the cached token path avoids. */
const environment = () => require("./environment.ts") as typeof import("./environment.ts");

/** Loaded on demand: the surfaces' file adaptors need node:fs. */
const surfacesPorts = () => require("./surfaces/ports.ts") as typeof import("./surfaces/ports.ts");

/**
 * The certificates a request trusts: --ca-file, else $AGENT_RUNNER_AUTH_CA_FILE, else the bundle
 * remembered in the profile the request is about (login writes it there, so `token`'s refresh
 * uses it). The profile is handed in with each request; one TlsTrust per bundle, so a file is read
 * once per process, on the first request that needs it.
 */
function trustPolicy(option: string | undefined, env: NodeJS.ProcessEnv) {
  const explicit = option || env.AGENT_RUNNER_AUTH_CA_FILE || undefined;
  const made = new Map<string | undefined, TlsTrust>();
  const of = (source: TrustSource): TlsTrust => {
    const file = explicit ?? source?.caFile;
    let trust = made.get(file);
    if (!trust) made.set(file, (trust = (require("./oauth/bounded-fetch.ts") as typeof import("./oauth/bounded-fetch.ts")).caTrust(file)));
    return trust;
  };
  return {
    of,
    /** The same, with the bundle read now: a bad file is a configuration error before any request. */
    checked(source: TrustSource): TlsTrust {
      const trust = of(source);
      trust.fetchOptions();
      return trust;
    },
    /** The profile to write: with the explicit bundle's absolute path, when there is one. */
    remember(profile: Profile): Profile {
      if (!explicit) return profile;
      return { ...profile, caFile: (require("node:path") as typeof import("node:path")).resolve(explicit) };
    },
  };
}

function oauthPort(trust: ReturnType<typeof trustPolicy>): OAuthPort {
  const client = () => import("./oauth/client.ts");
  return {
    fetchTenantDiscovery: async (url, source) => (await client()).fetchTenantDiscovery(url, trust.checked(source)),
    discoverEndpoints: async (issuer, source) => (await client()).discoverEndpoints(issuer, trust.checked(source)),
    refreshTokens: async (profile, token) => (await client()).refreshTokens(profile, token, trust.checked(profile)),
    revokeRefreshToken: async (profile, token) => (await client()).revokeRefreshToken(profile, token, trust.checked(profile)),
    signIn: async (options) => {
      const checked = trust.checked(options.profile);
      return (await import("./oauth/login.ts")).interactiveLogin({ ...options, trust: checked });
    },
    fetch: async (url, init, source) => (await client()).guardedFetch(url, init ?? {}, trust.checked(source)),
    stream: async (url, init, source) => (await client()).streamingFetch(url, init, trust.checked(source)),
  };
}

export function createContext(options: { profileName: string; profileReason?: string; verbose: boolean; caFile?: string }): CommandContext {
  const { profileName } = options;
  const trust = trustPolicy(options.caFile, process.env);
  const ctx: CommandContext = {
    profileName,
    profileReason: options.profileReason ?? `profile "${profileName}"`,
    platform: process.platform,
    get home() {
      return (require("node:os") as typeof import("node:os")).homedir();
    },
    files: {
      readText: (path, o) => surfacesPorts().nodeReadText(path, o),
      exists: (path) => surfacesPorts().nodeExists(path),
    },
    // console.log: native in Bun, no node:fs on the cached token path. Output is whole lines.
    stdout: (text) => console.log(text.endsWith("\n") ? text.slice(0, -1) : text),
    say,
    verbose: options.verbose ? (line) => say(`agent-runner-auth: ${line}`) : () => {},
    env: process.env,
    cwd: process.cwd(),
    now: Date.now,
    profiles: {
      read: readProfile,
      require: requireProfile,
      write: (name, profile) => writeProfile(name, trust.remember(profile)),
      path: profilePath,
    },
    async openStore(kind, { quiet = false, humanPresent } = {}) {
      const store = await openStore(kind, profileName, { humanPresent: humanPresent ? () => true : () => environment().hasControllingTerminal() });
      if (humanPresent) return store;
      if (kind === "file" && !quiet) say(`agent-runner-auth: using the file store: ${store.description}`);
      ctx.verbose(`store: ${store.description}`);
      return store;
    },
    async lock(request) {
      const { acquireLock } = await import("./lock.ts");
      return acquireLock(profileName, request);
    },
    oauth: oauthPort(trust),
    // a getter: nothing of the gateway's is loaded on the cached token path
    get gateway() {
      return (require("./gateway/ports.ts") as typeof import("./gateway/ports.ts")).nodeGatewayPort(trust.of);
    },
    browser: { open: async (url) => (await import("./browser.ts")).systemBrowser.open(url) },
    terminal: {
      interactiveLoginBlocker: () => environment().interactiveLoginBlocker(),
      stderrIsTerminal: () => Boolean(process.stderr.isTTY),
      facts: () => ({ hasTerminal: environment().hasControllingTerminal(), hasDisplay: environment().hasDisplay(), isCI: environment().isCI() }),
      ask: async (question) => {
        if (!environment().hasControllingTerminal()) return null;
        const { terminalLines } = await import("./oauth/paste.ts");
        const abort = new AbortController();
        try {
          for await (const line of terminalLines(question, abort.signal)) return line;
          return null;
        } finally {
          abort.abort();
        }
      },
    },
    attempts: {
      read: async (profile) => (await import("./session/login-cooldown.ts")).fileAttempts.read(profile),
      write: async (profile, attempt) => (await import("./session/login-cooldown.ts")).fileAttempts.write(profile, attempt),
      clear: async (profile) => (await import("./session/login-cooldown.ts")).fileAttempts.clear(profile),
    },
    handouts: fileHandouts,
    self: () => (require("./self.ts") as typeof import("./self.ts")).selfCommand(),
  };
  return ctx;
}
