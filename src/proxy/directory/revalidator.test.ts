import { describe, expect, test } from "bun:test";
import { MemoryClaims } from "../coordination/claim-once.ts";
import { Revalidator, type CheckResult, type Revocation, type RevalidatorDeps } from "./revalidator.ts";
import { ActiveSessions, type SessionSighting } from "./sessions.ts";

const ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool";
const USERINFO = "https://pool.auth.eu-west-1.amazoncognito.com/oauth2/userInfo";
const HOUR = 3_600_000;

interface Call {
  url: string;
  token: string;
}

type Answer = (call: Call, init: RequestInit) => Promise<Response> | Response;

function harness(answer: Answer, options: Partial<RevalidatorDeps> = {}) {
  let now = 1_000_000;
  const calls: Call[] = [];
  const revoked: Revocation[] = [];
  const logs: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const counts: Partial<Record<CheckResult, number>> = {};
  const deps: RevalidatorDeps = {
    fetch: async (url, init) => {
      const call = { url, token: String((init.headers as Record<string, string>).authorization).replace(/^Bearer /, "") };
      calls.push(call);
      return answer(call, init);
    },
    userInfoEndpoint: async () => USERINFO,
    revoke: async (r) => void revoked.push(r),
    log: (level, message, fields) => logs.push({ level, message, fields }),
    checks: { inc: ({ result }) => void (counts[result] = (counts[result] ?? 0) + 1) },
    now: () => now,
    intervalMs: 60_000,
    ...options,
  };
  const r = new Revalidator(deps);
  return {
    r,
    calls,
    revoked,
    logs,
    counts,
    advance: (ms: number) => (now += ms),
    now: () => now,
  };
}

const sighting = (overrides: Partial<SessionSighting> = {}): SessionSighting => ({
  tenant: "acme",
  issuer: ISSUER,
  sub: "sub-carol",
  sessionId: "session-1",
  accessToken: "token-1",
  expiresAt: 1_000_000 + HOUR,
  displayName: "carol@example.com",
  ...overrides,
});

const ok = () => Response.json({ sub: "sub-carol", email: "carol@example.com" });
const refused = () => Response.json({ error: "invalid_token", error_description: "Access token has been revoked" }, { status: 401 });

describe("when the issuer is asked", () => {
  test("a new session at once, then at most once per interval however many requests", async () => {
    const h = harness(ok);
    h.r.seen(sighting());
    await h.r.settled();
    expect(h.calls).toEqual([{ url: USERINFO, token: "token-1" }]);
    for (let i = 0; i < 50; i++) {
      h.advance(1000);
      h.r.seen(sighting());
      h.r.sweep();
    }
    await h.r.settled();
    expect(h.calls).toHaveLength(1);
    h.advance(10_000); // 60 s since the check
    h.r.seen(sighting());
    await h.r.settled();
    expect(h.calls).toHaveLength(2);
    expect(h.counts).toEqual({ ok: 2 });
    expect(h.revoked).toEqual([]);
  });

  test("the sweep checks sessions that make no request, with their latest token", async () => {
    const h = harness(ok);
    h.r.seen(sighting());
    await h.r.settled();
    h.advance(30_000);
    h.r.seen(sighting({ accessToken: "token-2", expiresAt: h.now() + HOUR })); // refreshed
    h.r.seen(sighting({ accessToken: "token-0", expiresAt: h.now() + 1000 })); // an older copy: not kept
    h.advance(30_000);
    h.r.sweep();
    await h.r.settled();
    expect(h.calls.map((c) => c.token)).toEqual(["token-1", "token-2"]);
  });

  test("a token about to expire is not sent (the issuer would refuse it as expired, not revoked); an expired session is dropped", async () => {
    const h = harness(refused);
    h.r.seen(sighting({ expiresAt: 1_000_000 + 20_000 }));
    await h.r.settled();
    expect(h.calls).toEqual([]);
    expect(h.counts).toEqual({ skipped: 1 });
    h.advance(25_000);
    h.r.sweep();
    expect(h.r.sessions.size).toBe(0);
    expect(h.revoked).toEqual([]);
  });

  test("at most `concurrency` checks at once; all of them done in the end", async () => {
    let open = 0;
    let peak = 0;
    const h = harness(
      async () => {
        open++;
        peak = Math.max(peak, open);
        await Bun.sleep(2);
        open--;
        return ok();
      },
      { concurrency: 4 },
    );
    for (let i = 0; i < 50; i++) h.r.seen(sighting({ sessionId: `s-${i}`, sub: `sub-${i}` }));
    expect(h.r.inFlight).toBe(4);
    await h.r.settled();
    expect(peak).toBe(4);
    expect(h.calls).toHaveLength(50);
  });
});

describe("what the answer does", () => {
  test("401: the session is revoked with reason issuer, one log line without the token; later sightings are ignored", async () => {
    const h = harness(refused);
    h.r.seen(sighting());
    await h.r.settled();
    expect(h.revoked).toEqual([{ tenant: "acme", issuer: ISSUER, sub: "sub-carol", sessionId: "session-1", reason: "issuer", detail: "401: Access token has been revoked", displayName: "carol@example.com", until: 1_000_000 + HOUR }]);
    expect(h.logs).toEqual([
      {
        level: "info",
        message: "session session-1 of carol@example.com revoked: the issuer refused its token at userInfo (401: Access token has been revoked)",
        fields: { tenant: "acme", sub: "sub-carol", session: "session-1", reason: "issuer", issuer_said: "401: Access token has been revoked" },
      },
    ]);
    expect(JSON.stringify(h.logs)).not.toContain("token-1");
    expect(h.counts).toEqual({ revoked: 1 });
    h.advance(120_000);
    h.r.seen(sighting()); // a request before the denylist reached this replica
    h.r.sweep();
    await h.r.settled();
    expect(h.calls).toHaveLength(1);
  });

  test("5xx, 429, 403, a network error, a body over the cap: never a revocation; counted, logged once, asked again next interval", async () => {
    const failures: Answer[] = [
      () => new Response("oops", { status: 500 }),
      () => new Response("", { status: 503 }),
      () => new Response("slow down", { status: 429 }),
      () => new Response("forbidden", { status: 403 }),
      () => {
        throw new TypeError("fetch failed: ECONNREFUSED");
      },
      () => new Response(new Uint8Array(200_000)),
    ];
    let which = 0;
    const h = harness((call, init) => failures[which]!(call, init));
    h.r.seen(sighting());
    await h.r.settled();
    for (which = 1; which < failures.length; which++) {
      h.advance(60_000);
      h.r.sweep();
      await h.r.settled();
    }
    expect(h.calls).toHaveLength(failures.length);
    expect(h.revoked).toEqual([]);
    expect(h.counts).toEqual({ error: failures.length });
    expect(h.logs).toHaveLength(1);
    expect(h.logs[0]!.message).toBe(`directory checks at ${ISSUER} fail (HTTP 500); no session is revoked for that, each is asked again next interval`);
    failures.push(ok);
    h.advance(60_000);
    h.r.sweep();
    await h.r.settled();
    expect(h.counts).toEqual({ error: failures.length - 1, ok: 1 });
    expect(h.logs.at(-1)!.message).toBe(`directory checks at ${ISSUER} work again`);
  });

  test("a body over the size cap is an error, not an answer", async () => {
    const h = harness(() => new Response(new Uint8Array(70_000), { status: 401 }), { maxBytes: 64 * 1024 });
    h.r.seen(sighting());
    await h.r.settled();
    expect(h.revoked).toEqual([]);
    expect(h.counts).toEqual({ error: 1 });
  });

  test("an issuer that never answers: the deadline ends the call, no revocation", async () => {
    const h = harness((_call, init) => new Promise<Response>((_, reject) => init.signal!.addEventListener("abort", () => reject(init.signal!.reason))), { timeoutMs: 50 });
    const started = performance.now();
    h.r.seen(sighting());
    await h.r.settled();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(h.counts).toEqual({ error: 1 });
    expect(h.logs[0]!.message).toContain("no answer in time");
  });

  test("no userInfo endpoint known: an error, no revocation", async () => {
    const h = harness(ok, { userInfoEndpoint: async () => Promise.reject(new Error("discovery: HTTP 503")) });
    h.r.seen(sighting());
    await h.r.settled();
    expect(h.calls).toEqual([]);
    expect(h.counts).toEqual({ error: 1 });
  });

  test("a disabled person: one 401 gets their other sessions asked at once, each revoked on its own answer", async () => {
    const h = harness((call) => (call.token === "token-b" ? ok() : refused()));
    h.r.seen(sighting({ sessionId: "a", accessToken: "token-a" }));
    await h.r.settled();
    h.advance(1000);
    // the other sessions were checked when first seen, so not due for a minute...
    h.r.seen(sighting({ sessionId: "b", accessToken: "token-b" }));
    h.r.seen(sighting({ sessionId: "c", accessToken: "token-c" }));
    await h.r.settled();
    expect(h.revoked.map((r) => r.sessionId)).toEqual(["a", "c"]);
    // ...and someone else's sessions are untouched
    const h2 = harness((call) => (call.token === "token-a" ? refused() : ok()));
    h2.r.seen(sighting({ sessionId: "x", accessToken: "token-x" }));
    h2.r.seen(sighting({ sessionId: "y", sub: "sub-other", accessToken: "token-y" }));
    await h2.r.settled();
    h2.advance(1000);
    h2.r.seen(sighting({ sessionId: "a", accessToken: "token-a" }));
    await h2.r.settled();
    expect(h2.calls.map((c) => c.token)).toEqual(["token-x", "token-y", "token-a", "token-x"]);
    expect(h2.revoked.map((r) => r.sessionId)).toEqual(["a"]);
  });

  test("a revocation the denylist could not take is not lost: asked again at the next sweep", async () => {
    let storeUp = false;
    const h = harness(refused, {
      revoke: async () => {
        if (!storeUp) throw new Error("state store unavailable");
      },
    });
    h.r.seen(sighting());
    await h.r.settled();
    expect(h.counts).toEqual({ error: 1 });
    storeUp = true;
    h.advance(5_000);
    h.r.sweep();
    await h.r.settled();
    expect(h.counts).toEqual({ error: 1, revoked: 1 });
  });

  test("a 2xx answer feeds the e-mail cache", async () => {
    const seen: unknown[] = [];
    const h = harness(ok, { onUserInfo: (issuer, sub, body) => seen.push({ issuer, sub, body }) });
    h.r.seen(sighting());
    await h.r.settled();
    expect(seen).toEqual([{ issuer: ISSUER, sub: "sub-carol", body: { sub: "sub-carol", email: "carol@example.com" } }]);
  });
});

test("two replicas sharing claims: one call per session per interval", async () => {
  let now = 1_000_000;
  const claims = new MemoryClaims(() => now);
  const calls: string[] = [];
  const make = (name: string) =>
    new Revalidator({
      fetch: async () => {
        calls.push(name);
        return ok();
      },
      userInfoEndpoint: async () => USERINFO,
      revoke: async () => {},
      log: () => {},
      checks: { inc: () => {} },
      now: () => now,
      intervalMs: 60_000,
      claims: { store: claims, claimant: name },
    });
  const a = make("a");
  const b = make("b");
  for (let minute = 0; minute < 3; minute++) {
    a.seen(sighting());
    b.seen(sighting());
    a.sweep();
    b.sweep();
    await Promise.all([a.settled(), b.settled()]);
    now += 60_000;
  }
  expect(calls).toHaveLength(3);
});

describe("the session tracker", () => {
  test("bounded: the least recently seen go first", () => {
    const t = new ActiveSessions(3);
    for (const id of ["1", "2", "3"]) t.seen(sighting({ sessionId: id }), 0, 0);
    t.seen(sighting({ sessionId: "1" }), 1000, 0); // seen again, a second later: most recent
    t.seen(sighting({ sessionId: "4" }), 1001, 0);
    expect(t.size).toBe(3);
    expect(t.get(`acme\n${ISSUER}\n2`)).toBeUndefined();
    expect(t.get(`acme\n${ISSUER}\n1`)).toBeDefined();
  });

  test("sessions of different tenants or issuers with one id are distinct", () => {
    const t = new ActiveSessions();
    t.seen(sighting(), 0, 0);
    t.seen(sighting({ tenant: "other" }), 0, 0);
    t.seen(sighting({ issuer: "https://elsewhere" }), 0, 0);
    expect(t.size).toBe(3);
  });
});
