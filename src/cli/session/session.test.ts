/** The token use case over fakes: the seed's behaviour table, single-flight, and no lost tokens. */
import { describe, expect, test } from "bun:test";
import { getToken, saveTokens, type TokenPorts } from "./session.ts";
import { CliError } from "../errors.ts";
import type { SecretName, SecretStore } from "../store/types.ts";
import type { TokenSet } from "./records.ts";

class MemoryStore implements SecretStore {
  readonly kind = "file" as const;
  readonly description = "memory";
  readonly data = new Map<SecretName, string>();
  readonly writes: SecretName[] = [];
  async get(name: SecretName) {
    await Promise.resolve();
    return this.data.get(name) ?? null;
  }
  async set(name: SecretName, value: string) {
    this.writes.push(name);
    this.data.set(name, value);
  }
  async delete(name: SecretName) {
    return this.data.delete(name);
  }
}

/** An in-process mutex standing in for the cross-process lock. */
function mutex() {
  let tail = Promise.resolve();
  return () => {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const acquired = tail.then(() => ({ release }));
    tail = tail.then(() => next);
    return acquired;
  };
}

class RefreshRejected extends Error {}

function ports(store: MemoryStore, overrides: Partial<TokenPorts> = {}): TokenPorts & { refreshes: string[]; warnings: string[]; logins: number } {
  const state = { refreshes: [] as string[], warnings: [] as string[], logins: 0 };
  let n = 0;
  const base: TokenPorts = {
    store,
    now: () => 1_000_000,
    lock: mutex(),
    refresh: async (rt) => {
      state.refreshes.push(rt);
      await new Promise((r) => setTimeout(r, 5));
      return { accessToken: `refreshed-${++n}`, expiresIn: 3600 };
    },
    login: { unavailable: "there is no terminal" },
    isRefreshRejected: (e) => e instanceof RefreshRejected,
    warn: (m) => state.warnings.push(m),
    loginCommand: "agent-runner-auth login",
  };
  return Object.assign(state, base, overrides) as never;
}

async function seed(store: MemoryStore, access: { token: string; expiresAt: number; lifetimeMs?: number } | null, refresh: string | null) {
  if (access) store.data.set("access", JSON.stringify({ lifetimeMs: 3_600_000, ...access }));
  if (refresh) store.data.set("refresh", JSON.stringify({ token: refresh, issuedAt: 0 }));
}

describe("the behaviour table", () => {
  test("cached: a fresh access token is returned without refresh or lock", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "cached", expiresAt: 1_000_000 + 3_000_000 }, "rt");
    let locked = false;
    const p = ports(store, { lock: async () => ((locked = true), { release() {} }) });
    expect((await getToken(p, 300_000)).access.token).toBe("cached");
    expect(locked).toBe(false);
    expect(p.refreshes).toEqual([]);
  });

  test("expiring within the minimum validity: silent refresh, stored, returned", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "old", expiresAt: 1_000_000 + 200_000 }, "rt");
    const p = ports(store);
    expect((await getToken(p, 300_000)).access.token).toBe("refreshed-1");
    expect(p.refreshes).toEqual(["rt"]);
    expect(JSON.parse(store.data.get("access")!).token).toBe("refreshed-1");
    // Cognito without rotation returns no refresh token: the old one stays
    expect(JSON.parse(store.data.get("refresh")!).token).toBe("rt");
  });

  test("non-interactive: no tokens and no way to log in is a CliError with the command to run", async () => {
    const p = ports(new MemoryStore());
    const error = await getToken(p, 0).catch((e) => e);
    expect(error).toBeInstanceOf(CliError);
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain("you are not logged in");
    expect(error.message).toContain("there is no terminal");
    expect(error.hint).toBe("Run: agent-runner-auth login");
  });

  test("interactive: no tokens, login possible: logs in and stores everything", async () => {
    const store = new MemoryStore();
    const p = ports(store, { login: async () => ({ accessToken: "fresh", expiresIn: 3600, refreshToken: "rt-new", idToken: "a.b.c" }) });
    expect((await getToken(p, 0)).access.token).toBe("fresh");
    expect(JSON.parse(store.data.get("refresh")!).token).toBe("rt-new");
    expect(store.data.get("id")).toBe("a.b.c");
  });

  test("invalid_grant: the dead session is deleted, then the non-interactive error", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "old", expiresAt: 999_000 }, "dead-rt");
    const p = ports(store, { refresh: async () => Promise.reject(new RefreshRejected("invalid_grant")) });
    const error = await getToken(p, 0).catch((e) => e);
    expect(error.message).toContain("your session has expired or was revoked");
    expect(store.data.size).toBe(0);
  });

  test("IdP unreachable: the refresh token is kept; a still-valid token is served with a warning", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "still-valid", expiresAt: 1_000_000 + 60_000 }, "rt");
    const p = ports(store, { refresh: async () => Promise.reject(new CliError(3, "cannot reach the identity provider")) });
    expect((await getToken(p, 300_000)).access.token).toBe("still-valid");
    expect(p.warnings[0]).toContain("cannot reach the identity provider; using the current access token (valid for 60 s more)");
    expect(JSON.parse(store.data.get("refresh")!).token).toBe("rt");
  });

  test("IdP unreachable and the token expired: the error, and the refresh token is kept", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "expired", expiresAt: 999_999 }, "rt");
    const p = ports(store, { refresh: async () => Promise.reject(new CliError(3, "cannot reach the identity provider")) });
    const error = await getToken(p, 0).catch((e) => e);
    expect(error.exitCode).toBe(3);
    expect(JSON.parse(store.data.get("refresh")!).token).toBe("rt");
  });
});

describe("many callers at once", () => {
  test("50 concurrent callers with an expired token: exactly one refresh, one token for all", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "old", expiresAt: 0 }, "rt");
    const p = ports(store);
    const tokens = await Promise.all(Array.from({ length: 50 }, async () => (await getToken(p, 0)).access.token));
    expect(p.refreshes).toHaveLength(1);
    expect(new Set(tokens)).toEqual(new Set(["refreshed-1"]));
  });

  test("with rotation the new refresh token is written before the access token", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "old", expiresAt: 0 }, "rt-1");
    const p = ports(store, { refresh: async () => ({ accessToken: "a2", expiresIn: 3600, refreshToken: "rt-2", idToken: "x.y.z" }) });
    await getToken(p, 0);
    expect(store.writes).toEqual(["refresh", "id", "access"]);
    expect(JSON.parse(store.data.get("refresh")!).token).toBe("rt-2");
  });

  test("10 callers that all need a login share one login", async () => {
    const store = new MemoryStore();
    let logins = 0;
    const p = ports(store, {
      login: async () => {
        logins++;
        await new Promise((r) => setTimeout(r, 20));
        return { accessToken: "logged-in", expiresIn: 3600, refreshToken: "rt" } satisfies TokenSet;
      },
    });
    const tokens = await Promise.all(Array.from({ length: 10 }, async () => (await getToken(p, 0)).access.token));
    expect(logins).toBe(1);
    expect(new Set(tokens)).toEqual(new Set(["logged-in"]));
  });
});

test("saveTokens records the refresh token's expiry when the tenant publishes the lifetime", async () => {
  const store = new MemoryStore();
  await saveTokens(store, { accessToken: "a", expiresIn: 60, refreshToken: "r" }, 1000, 30_000);
  expect(JSON.parse(store.data.get("refresh")!)).toEqual({ token: "r", issuedAt: 1000, signedInAt: 1000, expiresAt: 31_000 });
  expect(JSON.parse(store.data.get("access")!)).toEqual({ token: "a", expiresAt: 61_000, lifetimeMs: 60_000 });
});

describe("refresh-token rotation keeps the session's sign-in time and absolute expiry (Cognito)", () => {
  test("a rotated refresh token inherits signedInAt and expiresAt; only issuedAt moves", async () => {
    const store = new MemoryStore();
    store.data.set("refresh", JSON.stringify({ token: "rt-1", issuedAt: 10_000, signedInAt: 10_000, expiresAt: 10_000 + 30 * 86_400_000 }));
    const p = ports(store, { refresh: async () => ({ accessToken: "a2", expiresIn: 3600, refreshToken: "rt-2" }), refreshTokenLifetimeMs: 30 * 86_400_000 });
    await getToken(p, 0);
    expect(JSON.parse(store.data.get("refresh")!)).toEqual({ token: "rt-2", issuedAt: 1_000_000, signedInAt: 10_000, expiresAt: 10_000 + 30 * 86_400_000 });
  });

  test("a record from before signedInAt was kept: its issue time is the sign-in, the expiry computed from it", async () => {
    const store = new MemoryStore();
    store.data.set("refresh", JSON.stringify({ token: "rt-1", issuedAt: 20_000 }));
    const p = ports(store, { refresh: async () => ({ accessToken: "a2", expiresIn: 3600, refreshToken: "rt-2" }), refreshTokenLifetimeMs: 60_000 });
    await getToken(p, 0);
    expect(JSON.parse(store.data.get("refresh")!)).toEqual({ token: "rt-2", issuedAt: 1_000_000, signedInAt: 20_000, expiresAt: 80_000 });
  });

  test("a sign-in starts a new session: its own time and a full lifetime", async () => {
    const store = new MemoryStore();
    store.data.set("refresh", JSON.stringify({ token: "rt-old", issuedAt: 1, signedInAt: 1, expiresAt: 2 }));
    const p = ports(store, { login: async () => ({ accessToken: "a", expiresIn: 3600, refreshToken: "rt-new" }), refreshTokenLifetimeMs: 60_000 });
    await getToken(p, 0, { signIn: true });
    expect(JSON.parse(store.data.get("refresh")!)).toEqual({ token: "rt-new", issuedAt: 1_000_000, signedInAt: 1_000_000, expiresAt: 1_060_000 });
  });
});

describe("a token the gateway refused", () => {
  test("is never served again: its entry is dropped, one refresh, the refresh token kept", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "refused", expiresAt: 1_000_000 + 3_000_000 }, "rt");
    const p = ports(store);
    const served = await getToken(p, 300_000, { refused: "refused" });
    expect(served).toMatchObject({ access: { token: "refreshed-1" }, source: "refresh" });
    expect(p.refreshes).toEqual(["rt"]);
    expect(JSON.parse(store.data.get("refresh")!).token).toBe("rt");
  });

  test("the IdP unreachable: the refused token is not the fallback; the error, and the refresh token kept", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "refused", expiresAt: 1_000_000 + 3_000_000 }, "rt");
    const p = ports(store, { refresh: async () => Promise.reject(new CliError(3, "cannot reach the identity provider")) });
    expect((await getToken(p, 300_000, { refused: "refused" }).catch((e) => e)).exitCode).toBe(3);
    expect(store.data.has("access")).toBe(false);
    expect(JSON.parse(store.data.get("refresh")!).token).toBe("rt");
  });

  test("another process already replaced it: that token is served, nothing refreshed", async () => {
    const store = new MemoryStore();
    await seed(store, { token: "refused", expiresAt: 1_000_000 + 3_000_000 }, "rt");
    const p = ports(store, {
      lock: async () => {
        store.data.set("access", JSON.stringify({ token: "someone-else's", expiresAt: 1_000_000 + 3_000_000, lifetimeMs: 3_600_000 }));
        return { release() {} };
      },
    });
    expect((await getToken(p, 300_000, { refused: "refused" })).access.token).toBe("someone-else's");
    expect(p.refreshes).toEqual([]);
  });
});
