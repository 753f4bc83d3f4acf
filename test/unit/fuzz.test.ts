/**
 * A fuzz pass over everything the CLI and the proxy parse from outside: token responses, callbacks,
 * pasted addresses, profile files, stored entries, discovery documents, JWTs, argv. Each input must
 * be accepted or refused with the module's own error type; nothing may escape as a crash.
 * Deterministic (seeded); FUZZ_SEED and FUZZ_RUNS override.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError } from "../../src/cli/errors.ts";
import { parsePastedCallback } from "../../src/cli/oauth/paste.ts";
import { refreshTokens, validateCallback } from "../../src/cli/oauth/client.ts";
import { SYSTEM_TRUST } from "../../src/cli/oauth/bounded-fetch.ts";
import { decodeAccess, decodeRefresh, jwtClaims } from "../../src/cli/session/records.ts";
import { parseTenantDiscovery, DiscoveryFormatError, buildTenantDiscovery } from "../../src/shared/tenant-discovery.ts";
import { readProfile, type Profile } from "../../src/cli/config.ts";
import { parseArgs } from "../../src/cli/args.ts";
import { COMMANDS } from "../../src/cli/commands/registry.ts";
import { verifyAccessToken, TokenRejected } from "../../src/proxy/auth/verify.ts";
import { IssuerKeys } from "../../src/proxy/auth/jwks.ts";
import { startForge, type Forge } from "../support/forge.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

/** mulberry32: small, seeded, good enough to pick mutations. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPICE = ["", "\u0000", "\uffff", "💥", "%", "%zz", "&", "=", "#", "?", "\n", '"', "\\", "{", "}", "[", "]", ":", ",", "null", "-1", "1e309", "A".repeat(5000), "../", "<script>", "\u202e", " "];

function mutate(random: () => number, input: string): string {
  let s = input;
  const rounds = 1 + Math.floor(random() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(random() * (s.length + 1));
    switch (Math.floor(random() * 6)) {
      case 0:
        s = s.slice(0, at); // truncate
        break;
      case 1:
        s = s.slice(0, at) + SPICE[Math.floor(random() * SPICE.length)] + s.slice(at); // insert
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(random() * 10)); // delete
        break;
      case 3:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(random() * 0xffff)) + s.slice(at + 1); // replace
        break;
      case 4:
        s = s + s.slice(0, at); // duplicate
        break;
      default:
        s = s.split("").reverse().join(""); // scramble
    }
  }
  return s;
}

function jsonMutate(random: () => number, value: unknown): unknown {
  const replacements = [null, 0, -1, 1e309, "", "x", [], {}, true, "A".repeat(3000), { nested: [1, 2] }];
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const key = keys[Math.floor(random() * keys.length)];
    if (key !== undefined) {
      const choice = random();
      if (choice < 0.3) delete copy[key];
      else if (choice < 0.7) copy[key] = replacements[Math.floor(random() * replacements.length)];
      else copy[key] = jsonMutate(random, copy[key]);
    }
    return copy;
  }
  return replacements[Math.floor(random() * replacements.length)];
}

/** Tallies of one target: inputs accepted, and refused with the module's own error. */
const tally = { accepted: 0, refused: 0 };

function expectOnly(run: () => unknown, ...allowed: (new (...args: never[]) => Error)[]): void {
  try {
    run();
    tally.accepted++;
  } catch (e) {
    if (!allowed.some((type) => e instanceof type)) throw new Error(`escaped: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    tally.refused++;
  }
}

async function expectOnlyAsync(run: () => Promise<unknown>, ...allowed: (new (...args: never[]) => Error)[]): Promise<void> {
  try {
    await run();
    tally.accepted++;
  } catch (e) {
    if (!allowed.some((type) => e instanceof type)) throw new Error(`escaped: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    tally.refused++;
  }
}

beforeEach(() => {
  tally.accepted = 0;
  tally.refused = 0;
});

/** The mutations must actually reach the error paths, or the pass proves nothing. */
afterEach(() => {
  expect(tally.refused).toBeGreaterThan(0);
});

const profile: Profile = {
  issuer: "http://127.0.0.1:1/pool",
  clientId: "agent-runner-cli",
  redirectUris: ["http://localhost:53682/callback"],
  scopes: ["openid"],
  store: "file",
  endpoints: { authorization: "http://127.0.0.1:1/authorize", token: "http://127.0.0.1:1/token" },
};

describe(`fuzz (seed ${SEED}, ${RUNS} runs per target)`, () => {
  test("pasted callback addresses and codes", () => {
    const random = rng(SEED);
    const samples = ["http://localhost:53682/callback?code=abc123def&state=s1", "abcdef123456", "https://localhost:53682/callback?error=access_denied&state=s1"];
    for (let i = 0; i < RUNS; i++) {
      const input = mutate(random, samples[i % samples.length]!);
      expectOnly(() => parsePastedCallback(input, "http://localhost:53682/callback", "s1"), CliError);
    }
  });

  test("loopback callbacks", () => {
    const random = rng(SEED + 1);
    for (let i = 0; i < RUNS; i++) {
      let url: URL;
      try {
        url = new URL(mutate(random, "http://localhost:53682/callback?code=abc&state=s1&iss=http%3A%2F%2F127.0.0.1%3A1%2Fpool"));
      } catch {
        continue;
      }
      expectOnly(() => validateCallback(profile, url, "s1"), CliError);
    }
  });

  test("stored entries and JWT payloads", () => {
    const random = rng(SEED + 2);
    const samples = [JSON.stringify({ token: "a.b.c", expiresAt: 1, lifetimeMs: 1 }), JSON.stringify({ token: "r", issuedAt: 1 }), `x.${Buffer.from('{"sub":"s"}').toString("base64url")}.y`];
    for (let i = 0; i < RUNS; i++) {
      const input = mutate(random, samples[i % samples.length]!);
      // these never throw: a damaged entry reads as absent (null)
      const decoded = [decodeAccess(input), decodeRefresh(input), jwtClaims(input)];
      if (decoded.every((d) => d === null)) tally.refused++;
      else tally.accepted++;
    }
  });

  test("tenant discovery documents", () => {
    const random = rng(SEED + 3);
    const doc = buildTenantDiscovery("https://t.example", "https://i.example", { client_id: "c", redirect_uris: ["http://localhost:1/callback"], scopes: ["openid"] });
    for (let i = 0; i < RUNS; i++) {
      const mutated = i % 2 === 0 ? jsonMutate(random, jsonMutate(random, doc)) : (() => {
        try {
          return JSON.parse(mutate(random, JSON.stringify(doc)));
        } catch {
          return undefined;
        }
      })();
      expectOnly(() => parseTenantDiscovery(mutated, "https://t.example"), DiscoveryFormatError);
    }
  });

  test("profile files", async () => {
    const random = rng(SEED + 4);
    const home = mkdtempSync(join(tmpdir(), "ara-fuzz-"));
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = home;
    mkdirSync(join(home, "agent-runner-auth", "profiles"), { recursive: true });
    try {
      for (let i = 0; i < RUNS; i++) {
        const text = i % 2 === 0 ? JSON.stringify(jsonMutate(random, profile)) : mutate(random, JSON.stringify(profile));
        writeFileSync(join(home, "agent-runner-auth", "profiles", "fuzz.json"), text);
        await expectOnlyAsync(() => readProfile("fuzz"), CliError);
      }
    } finally {
      // assigning undefined would leave the string "undefined" (a relative directory) to later tests
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  });

  test("command lines", () => {
    const random = rng(SEED + 5);
    const words = ["--profile", "--store", "file", "--min-validity", "5m", "--timeout", "-h", "--", "x", "--no-browser", "--port", "99999", "--issuer=", "=", "-"];
    for (let i = 0; i < RUNS; i++) {
      const argv = Array.from({ length: Math.floor(random() * 6) }, () => (random() < 0.8 ? words[Math.floor(random() * words.length)]! : mutate(random, "--x")));
      for (const spec of COMMANDS) expectOnly(() => parseArgs(argv, spec.options, spec.name), CliError);
    }
  });
});

describe("fuzz over the network", () => {
  let server: ReturnType<typeof Bun.serve>;
  let nextBody = "";
  let nextStatus = 200;
  let forge: Forge;
  let keys: IssuerKeys;
  beforeAll(async () => {
    server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(nextBody, { status: nextStatus, headers: { "content-type": "application/json" } }) });
    forge = await startForge();
    keys = new IssuerKeys(forge.jwksUri);
    await keys.refresh();
  });
  afterAll(() => {
    server.stop(true);
    forge.stop();
  });

  test("token responses to a refresh grant", async () => {
    const random = rng(SEED + 6);
    const p = { ...profile, endpoints: { ...profile.endpoints, token: `http://127.0.0.1:${server.port}/token` } };
    const valid = { access_token: "a.b.c", token_type: "Bearer", expires_in: 3600, id_token: "x.y.z", refresh_token: "r" };
    const runs = Math.min(RUNS, 200);
    for (let i = 0; i < runs; i++) {
      nextStatus = [200, 200, 200, 400, 401, 500][Math.floor(random() * 6)]!;
      nextBody = i % 2 === 0 ? JSON.stringify(jsonMutate(random, jsonMutate(random, nextStatus === 200 ? valid : { error: "invalid_grant" }))) : mutate(random, JSON.stringify(valid));
      // RefreshRejected and CliError are the only outcomes besides a TokenSet
      await expectOnlyAsync(() => refreshTokens(p, "rt", SYSTEM_TRUST), CliError, (await import("../../src/cli/oauth/client.ts")).RefreshRejected);
    }
  });

  test("JWTs at the proxy", async () => {
    const random = rng(SEED + 7);
    const good = await forge.sign();
    const policy = { issuer: forge.issuer, clientIds: new Set(["agent-runner-cli"]), requiredGroups: [] };
    for (let i = 0; i < RUNS; i++) {
      await expectOnlyAsync(() => verifyAccessToken(mutate(random, good), policy, keys), TokenRejected);
    }
  });
});
