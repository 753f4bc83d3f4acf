/**
 * A CommandContext for unit tests: an in-memory store per kind, in-memory profiles, a fixed
 * clock, captured stdout/stderr, a recording lock, and an OAuth port whose calls fail unless a
 * test provides them. Nothing here touches the network, the keychain or the user's files.
 */
import { AuthRequiredError } from "../../src/cli/errors.ts";
import type { Profile } from "../../src/cli/config.ts";
import type { SecretName, SecretStore, StoreKind } from "../../src/cli/store/types.ts";
import type { LoginAttempt } from "../../src/cli/session/login-cooldown.ts";
import type { Handout } from "../../src/cli/session/handouts.ts";
import type { CommandContext, OAuthPort } from "../../src/cli/context.ts";
import type { GatewayPort } from "../../src/cli/gateway/ports.ts";
import type { GatewayHttp } from "../../src/cli/gateway/client.ts";
import { readAdminKeyFile } from "../../src/cli/gateway/admin-key.ts";

export class MemoryStore implements SecretStore {
  readonly values = new Map<SecretName, string>();
  readonly description: string;
  constructor(readonly kind: StoreKind) {
    this.description = `memory (${kind})`;
  }
  async get(name: SecretName) {
    return this.values.get(name) ?? null;
  }
  async set(name: SecretName, value: string) {
    this.values.set(name, value);
  }
  async delete(name: SecretName) {
    return this.values.delete(name);
  }
}

export const PROFILE: Profile = {
  tenant: "https://acme.proxy.example.com",
  issuer: "https://idp.example.com/pool",
  clientId: "client-1",
  redirectUris: ["http://localhost:53682/callback"],
  scopes: ["openid", "email", "profile"],
  store: "file",
  endpoints: { authorization: "https://idp.example.com/pool/authorize", token: "https://idp.example.com/pool/token", revocation: "https://idp.example.com/pool/revoke" },
  accessTokenLifetimeSeconds: 3600,
};

export const NOW = Date.UTC(2025, 0, 1, 12);

export interface Fake {
  ctx: CommandContext;
  stdout: string[];
  stderr: string[];
  stores: Record<StoreKind, MemoryStore>;
  profiles: Map<string, Profile>;
  attempts: Map<string, LoginAttempt>;
  handouts: Map<string, Handout>;
  /** Every call to an OAuth port, by name. */
  calls: string[];
  locks: number;
}

function unexpected(name: string): never {
  throw new Error(`unexpected call to oauth.${name}`);
}

export function fakeContext(options: { profile?: Profile | null; env?: Record<string, string>; oauth?: Partial<OAuthPort>; blocker?: string | null; cwd?: string; gateway?: GatewayPort; files?: Record<string, string> } = {}): Fake {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const calls: string[] = [];
  const stores = { keychain: new MemoryStore("keychain"), pass: new MemoryStore("pass"), file: new MemoryStore("file") };
  const profiles = new Map<string, Profile>();
  if (options.profile !== null) profiles.set("default", options.profile ?? PROFILE);
  const attempts = new Map<string, LoginAttempt>();
  const handouts = new Map<string, Handout>();
  const record = <A extends unknown[], R>(name: keyof OAuthPort, f: ((...a: A) => R) | undefined) => (...a: A): R => {
    calls.push(name);
    return f ? f(...a) : unexpected(name);
  };
  const oauth: OAuthPort = {
    fetchTenantDiscovery: record("fetchTenantDiscovery", options.oauth?.fetchTenantDiscovery),
    discoverEndpoints: record("discoverEndpoints", options.oauth?.discoverEndpoints),
    refreshTokens: record("refreshTokens", options.oauth?.refreshTokens),
    revokeRefreshToken: record("revokeRefreshToken", options.oauth?.revokeRefreshToken),
    signIn: record("signIn", options.oauth?.signIn),
    fetch: record("fetch", options.oauth?.fetch),
    stream: record("stream", options.oauth?.stream),
  };
  const fake: Fake = { ctx: undefined as unknown as CommandContext, stdout, stderr, stores, profiles, attempts, handouts, calls, locks: 0 };
  fake.ctx = {
    profileName: "default",
    profileReason: 'profile "default" (no --profile, AGENT_RUNNER_PROFILE or .agent-runner-auth here)',
    platform: "linux",
    home: "/home/test",
    files: { readText: (path) => options.files?.[path] ?? null, exists: (path) => options.files?.[path] !== undefined },
    stdout: (text) => stdout.push(text),
    say: (line) => stderr.push(line),
    verbose: () => {},
    env: options.env ?? {},
    cwd: options.cwd ?? "/nonexistent-cwd",
    now: () => NOW,
    profiles: {
      read: async (name) => profiles.get(name) ?? null,
      require: async (name) => {
        const p = profiles.get(name);
        if (!p) throw new AuthRequiredError(`no tenant configured for profile "${name}"`);
        return p;
      },
      write: async (name, p) => void profiles.set(name, p),
      path: (name) => `/profiles/${name}.json`,
    },
    openStore: async (kind) => stores[kind],
    lock: async () => {
      fake.locks++;
      return { release: () => {} };
    },
    oauth,
    gateway: options.gateway ?? memoryGatewayPort(),
    browser: { open: async () => true },
    terminal: {
      interactiveLoginBlocker: () => (options.blocker === undefined ? "$CI is set" : options.blocker),
      stderrIsTerminal: () => false,
      facts: () => ({ hasTerminal: false, hasDisplay: false, isCI: options.blocker === undefined }),
      ask: async () => null,
    },
    attempts: {
      read: async (p) => attempts.get(p) ?? null,
      write: async (p, a) => void attempts.set(p, a),
      clear: async (p) => void attempts.delete(p),
    },
    handouts: {
      read: async (p) => handouts.get(p) ?? null,
      write: async (p, h) => void handouts.set(p, h),
    },
    self: () => ["/opt/agent-runner-auth"],
  };
  return fake;
}

/** A stored access token record (JSON, as session/records.ts encodes it). */
export function accessRecord(token: string, expiresAt: number, lifetimeMs = 3_600_000): string {
  return JSON.stringify({ token, expiresAt, lifetimeMs });
}
export function refreshRecord(token: string): string {
  return JSON.stringify({ token, issuedAt: NOW - 1000 });
}

/** The gateway port for unit tests: a transport that fails unless given, a cache in memory, key files from a map. */
export function memoryGatewayPort(options: { http?: GatewayHttp; keyFiles?: Record<string, string>; cache?: Map<string, string> } = {}): GatewayPort & { cache: Map<string, string> } {
  const cache = options.cache ?? new Map<string, string>();
  const http: GatewayHttp = options.http ?? (async (url) => Promise.reject(new Error(`unexpected gateway request to ${url}`)));
  return {
    cache,
    http: () => http,
    statusLineCache: (profile) => ({ read: async () => cache.get(profile) ?? null, write: async (text) => void cache.set(profile, text) }),
    readAdminKey: (path) =>
      readAdminKeyFile(path, (p) => {
        const text = options.keyFiles?.[p];
        if (text === undefined) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
        return text;
      }),
  };
}
