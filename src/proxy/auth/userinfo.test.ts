import { describe, expect, test } from "bun:test";
import { EmailResolver, needsEmailLookup, USERINFO_FAILURE_TTL_MS, USERINFO_TTL_MS } from "./userinfo.ts";
import type { VerifiedUser } from "./verify.ts";

const ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool";
const USERINFO = "https://pool.auth.eu-west-1.amazoncognito.com/oauth2/userInfo";
const uuid = "7d8e2a1c-4b5f-4c3d-9e8f-0a1b2c3d4e5f";
const user = (over: Partial<VerifiedUser> = {}): VerifiedUser => ({ sub: uuid, username: uuid, clientId: "c", groups: [], exp: 0, ...over });

/** A fake IdP: discovery and userInfo, counting calls; `userinfo` decides the answer. */
function fakeIdp(userinfo: (auth: string | null) => Response | Promise<Response>) {
  const calls: string[] = [];
  const fetchFn = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    calls.push(url);
    if (url === `${ISSUER}/.well-known/openid-configuration`) return Response.json({ issuer: ISSUER, userinfo_endpoint: USERINFO });
    if (url === USERINFO) return userinfo(new Headers(init?.headers).get("authorization"));
    return new Response("no", { status: 404 });
  }) as typeof fetch;
  return { calls, fetchFn };
}

describe("EmailResolver", () => {
  test("only a token without email and with a UUID username needs a lookup", () => {
    expect(needsEmailLookup(user())).toBe(true);
    expect(needsEmailLookup(user({ email: "a@b.c" }))).toBe(false);
    expect(needsEmailLookup(user({ username: "demo" }))).toBe(false);
  });

  test("answers nothing at first, fetches in the background with the access token, then answers from the cache", async () => {
    const seen: (string | null)[] = [];
    const idp = fakeIdp((auth) => (seen.push(auth), Response.json({ sub: uuid, username: uuid, email: "erin@example.com", email_verified: "true" })));
    const resolver = new EmailResolver({ fetch: idp.fetchFn });
    expect(resolver.emailFor(ISSUER, user(), "tok")).toBeUndefined();
    expect(resolver.emailFor(ISSUER, user(), "tok")).toBeUndefined(); // one lookup in flight, not two
    await resolver.settled();
    expect(seen).toEqual(["Bearer tok"]);
    expect(resolver.emailFor(ISSUER, user(), "tok")).toBe("erin@example.com");
    expect(idp.calls.filter((c) => c === USERINFO)).toHaveLength(1);
  });

  test("once known, a request of that token reads no token and builds no key: its answer sits on the verified token's object until it expires", async () => {
    let now = 0;
    const idp = fakeIdp(() => Response.json({ email: "erin@example.com" }));
    const resolver = new EmailResolver({ fetch: idp.fetchFn, now: () => now });
    const verified = user();
    let reads = 0;
    const token = () => (reads++, "tok");
    expect(resolver.emailFor(ISSUER, verified, token)).toBeUndefined();
    expect(reads).toBe(1); // read to start the lookup
    await resolver.settled();
    for (let i = 0; i < 1000; i++) expect(resolver.emailFor(ISSUER, verified, token)).toBe("erin@example.com");
    expect(reads).toBe(1);
    expect(resolver.emailFor(ISSUER, user(), token)).toBe("erin@example.com"); // another token of the same person: from the cache
    expect(reads).toBe(1);
    now += USERINFO_TTL_MS + 1;
    expect(resolver.emailFor(ISSUER, verified, token)).toBeUndefined(); // expired: looked up again
    expect(reads).toBe(2);
  });

  test("the answer expires after the TTL; the cache is bounded", async () => {
    let now = 0;
    const idp = fakeIdp(() => Response.json({ email: "erin@example.com" }));
    const resolver = new EmailResolver({ fetch: idp.fetchFn, now: () => now, maxEntries: 2 });
    for (const sub of ["a", "b", "c"]) resolver.emailFor(ISSUER, user({ sub }), "tok");
    await resolver.settled();
    expect(resolver.emailFor(ISSUER, user({ sub: "a" }), "tok")).toBeUndefined(); // evicted: looked up again
    expect(resolver.emailFor(ISSUER, user({ sub: "c" }), "tok")).toBe("erin@example.com");
    now += USERINFO_TTL_MS + 1;
    expect(resolver.emailFor(ISSUER, user({ sub: "c" }), "tok")).toBeUndefined();
  });

  test("a failure is cached briefly, logged once, and never throws", async () => {
    let now = 0;
    const logs: string[] = [];
    const idp = fakeIdp(() => new Response("denied", { status: 401 }));
    const resolver = new EmailResolver({ fetch: idp.fetchFn, now: () => now, log: (m) => logs.push(m) });
    resolver.emailFor(ISSUER, user(), "secret-token");
    await resolver.settled();
    resolver.emailFor(ISSUER, user({ sub: "other" }), "secret-token");
    await resolver.settled();
    expect(resolver.emailFor(ISSUER, user(), "secret-token")).toBeUndefined();
    expect(idp.calls.filter((c) => c === USERINFO)).toHaveLength(2);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain("HTTP 401");
    expect(logs[0]).not.toContain("secret-token");
    now += USERINFO_FAILURE_TTL_MS + 1;
    resolver.emailFor(ISSUER, user(), "secret-token");
    await resolver.settled();
    expect(idp.calls.filter((c) => c === USERINFO)).toHaveLength(3);
  });

  test("a slow, oversized, non-JSON or non-email answer yields no email", async () => {
    const answers: (() => Response | Promise<Response>)[] = [
      () => new Promise<Response>(() => {}), // never answers: the timeout ends it
      () => new Response("x".repeat(70 * 1024)),
      () => new Response("<html>"),
      () => Response.json({ email: "not an \u001b[31m address" }),
    ];
    for (const answer of answers) {
      const logs: string[] = [];
      const idp = fakeIdp(answer);
      const resolver = new EmailResolver({ fetch: ((input: string | URL | Request, init?: RequestInit) => {
        const signal = init?.signal;
        const pending = idp.fetchFn(input, init);
        return signal ? Promise.race([pending, new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))]) : pending;
      }) as typeof fetch, timeoutMs: 100, log: (m) => logs.push(m) });
      const started = Date.now();
      resolver.emailFor(ISSUER, user(), "tok");
      await resolver.settled();
      expect(Date.now() - started).toBeLessThan(1000);
      expect(resolver.emailFor(ISSUER, user(), "tok")).toBeUndefined();
    }
  });

  test("an issuer without a userinfo_endpoint is a logged failure", async () => {
    const logs: string[] = [];
    const resolver = new EmailResolver({ fetch: (async () => Response.json({ issuer: ISSUER })) as unknown as typeof fetch, log: (m) => logs.push(m) });
    resolver.emailFor(ISSUER, user(), "tok");
    await resolver.settled();
    expect(logs[0]).toContain("userinfo_endpoint");
  });
});
