/**
 * The gateway's own endpoints through the real dispatch (an in-process proxy, real token
 * verification against a forge issuer, real in-memory SQLite state): routing, methods, bad input
 * answered 400 in the API's error shape, unknown paths 404, never anonymous, logout; every call
 * logged and counted like an API request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startForge, type Forge } from "../../../test/support/forge.ts";
import { tenantConfig } from "../../../test/support/gateway.ts";
import type { LogLine } from "../telemetry/log.ts";
import { type RunningProxy, startProxy } from "./server.ts";

const ADMIN_KEY = "adminkey-unit-0123456789abcdef0123456789abcdef";
let forge: Forge;
let proxy: RunningProxy;
let adminToken: string;
const lines: LogLine[] = [];

beforeAll(async () => {
  forge = await startForge();
  // nothing is forwarded here: the upstream is a closed port
  const tenant = tenantConfig({ issuer: forge.issuer, jwksUri: forge.jwksUri, upstream: "http://127.0.0.1:9" }, "acme", { adminGroups: ["gateway-admins"] });
  proxy = startProxy({ config: { tenants: new Map(), single: tenant, trustForwardedHeaders: false, shutdownGraceMs: 100 }, port: 0, hostname: "127.0.0.1", log: (line) => lines.push(line), adminKey: ADMIN_KEY, state: "sqlite::memory:" });
  await proxy.ready();
  adminToken = await forge.sign({ sub: "sub-admin", username: "ada", "cognito:groups": ["gateway-admins"] });
});
afterAll(async () => {
  await proxy?.shutdown(100);
  forge?.stop();
});

const call = (path: string, init: RequestInit & { credential?: string | null } = {}) => {
  const { credential = ADMIN_KEY, ...rest } = init;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (credential !== null) headers.authorization = `Bearer ${credential}`;
  return fetch(`${proxy.url}${path}`, { ...rest, headers });
};
const adminCall = (resource: string, init: RequestInit & { credential?: string | null } = {}) => call(`/_gateway/admin/v1/${resource}`, init);

/** The API's error shape, with its request-id header; returns the message. */
async function anthropicError(response: Response, status: number, type: string): Promise<string> {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { type: string; error: { type: string; message: string }; request_id: string };
  expect(body.type).toBe("error");
  expect(body.error.type).toBe(type);
  expect(body.request_id).toBeString();
  expect(response.headers.get("request-id")).toBe(body.request_id);
  return body.error.message;
}

describe("never anonymous", () => {
  test("no credential, a wrong key, a token outside the admin groups: 401, 401, 403 naming the groups", async () => {
    for (const resource of ["usage", "budgets", "limits", "revocations"]) {
      const none = await adminCall(resource, { credential: null });
      expect(none.headers.get("www-authenticate")).toContain("Bearer");
      await anthropicError(none, 401, "authentication_error");
      await anthropicError(await adminCall(resource, { credential: "not-the-admin-key-0123456789abcdef" }), 401, "authentication_error");
    }
    const member = await forge.sign({ sub: "sub-dev", username: "dev", "cognito:groups": ["developers"] });
    expect(await anthropicError(await adminCall("budgets", { credential: member }), 403, "permission_error")).toContain("gateway-admins");
  });

  test("an admin's token in the admin group and the admin key are both accepted", async () => {
    expect((await adminCall("budgets", { credential: adminToken })).status).toBe(200);
    expect((await adminCall("limits")).status).toBe(200);
  });
});

describe("routing and methods", () => {
  test("unknown paths under /_gateway/ are 404 not_found_error, whoever asks", async () => {
    for (const path of ["/_gateway/admin/v1/nope", "/_gateway/admin/v1/", "/_gateway/admin/v2/usage", "/_gateway/v1/me", "/_gateway/admin/v1/budgets/extra"]) {
      await anthropicError(await call(path), 404, "not_found_error");
      await anthropicError(await call(path, { credential: null }), 404, "not_found_error");
    }
  });

  test("logout and me/usage take one method each: 405 with Allow", async () => {
    const logout = await call("/_gateway/v1/logout", { method: "GET" });
    expect(logout.headers.get("allow")).toBe("POST");
    await anthropicError(logout, 405, "invalid_request_error");
    const me = await call("/_gateway/v1/me/usage", { method: "POST" });
    expect(me.headers.get("allow")).toBe("GET");
    await anthropicError(me, 405, "invalid_request_error");
  });

  test("a method a resource does not take is 400 naming it", async () => {
    expect(await anthropicError(await adminCall("usage", { method: "POST", body: "{}" }), 400, "invalid_request_error")).toContain("GET");
    expect(await anthropicError(await adminCall("budgets", { method: "PATCH", body: "{}" }), 400, "invalid_request_error")).toContain("PATCH is not supported on budgets");
  });

  test("budgets, limits and revocations round trip (JSON shapes of docs/proxy.md)", async () => {
    expect(await (await adminCall("budgets", { method: "PUT", body: JSON.stringify({ group: "eng", period: "month", usd: 12.5, soft: true }) })).json()).toEqual({ group: "eng", period: "month", unit: "usd", limit: 12.5, soft: true });
    expect(await (await adminCall("budgets")).json()).toContainEqual({ group: "eng", period: "month", unit: "usd", limit: 12.5, soft: true });
    expect(await (await adminCall("budgets?group=eng&period=month", { method: "DELETE" })).json()).toEqual({ cleared: 1 });
    expect(await (await adminCall("limits", { method: "PUT", body: JSON.stringify({ tenant: true, rpm: 100 }) })).json()).toEqual({ tenant: true, rpm: 100 });
    expect(await (await adminCall("limits?tenant=1", { method: "DELETE" })).json()).toEqual({ cleared: 1 });
    expect(await (await adminCall("revocations", { method: "POST", body: JSON.stringify({ user: "Bob@Example.com", reason: "left" }) })).json()).toMatchObject({ kind: "user", value: "bob@example.com", by: "admin-key", reason: "left", matched: [] });
    expect(await (await adminCall("revocations?user=Bob@Example.com", { method: "DELETE" })).json()).toMatchObject({ restored: true, kind: "user", lifted: [{ kind: "user", value: "bob@example.com" }] });
    const csv = await adminCall("usage?format=csv");
    expect(csv.headers.get("content-type")).toStartWith("text/csv");
  });
});

describe("a --user value matches the person however it names them", () => {
  /** One authenticated request, so the gateway has seen this person; their write lands just after. */
  async function seen(token: string): Promise<void> {
    expect((await call("/_gateway/v1/me/usage", { credential: token })).status).toBe(200);
    await Bun.sleep(30);
  }
  const meStatus = async (token: string) => {
    const r = await call("/_gateway/v1/me/usage", { credential: token });
    return { status: r.status, reason: r.headers.get("x-agent-runner-reason"), message: r.status === 200 ? "" : ((await r.json()) as { error: { message: string } }).error.message };
  };

  test("a username that looks like an e-mail: revoke by it matches the person (not a guess of e-mail); 401 person_revoked; restore by their real e-mail lifts it", async () => {
    const token = await forge.sign({ sub: "sub-devi", username: "devi@example.com", email: "devi.other@example.com", origin_jti: "s-devi" });
    await seen(token);
    const revoked = (await (await adminCall("revocations", { method: "POST", body: JSON.stringify({ user: "Devi@Example.com" }) })).json()) as Record<string, unknown>;
    expect(revoked).toMatchObject({ kind: "user", value: "devi@example.com", matched: [{ sub: "sub-devi", username: "devi@example.com", email: "devi.other@example.com", matched_by: ["username"] }] });
    expect(revoked.note).toBeUndefined();
    expect((revoked.revocations as { kind: string; value: string }[]).map((r) => [r.kind, r.value])).toEqual([["user", "devi@example.com"], ["sub", "sub-devi"]]);
    const refused = await meStatus(token);
    expect(refused).toMatchObject({ status: 401, reason: "person_revoked" });
    expect(refused.message).toContain("withdrew your access");
    expect(refused.message).toContain("signing in again will not help");
    const restored = (await (await adminCall("revocations?user=devi.other@example.com", { method: "DELETE" })).json()) as Record<string, unknown>;
    expect(restored).toMatchObject({ restored: true, matched: [{ sub: "sub-devi", matched_by: ["email"] }] });
    expect((restored.lifted as { kind: string }[]).map((r) => r.kind).sort()).toEqual(["sub", "user"]);
    expect((await meStatus(token)).status).toBe(200);
  });

  test("by sub, and a kind forced; a revocation by e-mail reaches a token that carries none (the e-mail the person was seen with)", async () => {
    const token = await forge.sign({ sub: "sub-sam", username: "sam", email: "sam@example.com" });
    await seen(token);
    expect(await (await adminCall("revocations", { method: "POST", body: JSON.stringify({ user: "sub-sam" }) })).json()).toMatchObject({ kind: "user", matched: [{ sub: "sub-sam", matched_by: ["sub"] }], revocations: [{ kind: "user", value: "sub-sam" }] });
    expect((await meStatus(token)).reason).toBe("person_revoked");
    expect(await (await adminCall("revocations?user=sam", { method: "DELETE" })).json()).toMatchObject({ restored: true, lifted: [{ kind: "user", value: "sub-sam" }] });
    expect((await meStatus(token)).status).toBe(200);
    // forced kind: "sam@example.com" as a username names nobody; as an e-mail, sam
    expect(await (await adminCall("revocations", { method: "POST", body: JSON.stringify({ user: "sam@example.com", kind: "email" }) })).json()).toMatchObject({ kind: "email", matched: [{ sub: "sub-sam" }] });
    const later = await forge.sign({ sub: "sub-sam", username: "sam" }); // a later token without the email claim
    expect((await meStatus(later)).reason).toBe("person_revoked");
    expect(await (await adminCall("revocations?user=sam@example.com&kind=email", { method: "DELETE" })).json()).toMatchObject({ restored: true });
    expect((await meStatus(later)).status).toBe(200);
  });

  test("nobody seen by that name: revoked anyway, and the answer says so; it applies when they first appear", async () => {
    const answer = (await (await adminCall("revocations", { method: "POST", body: JSON.stringify({ user: "newcomer@example.com" }) })).json()) as Record<string, unknown>;
    expect(answer).toMatchObject({ kind: "user", matched: [] });
    expect(answer.note).toBe("no token seen for newcomer@example.com: no person whose sub, username or e-mail is newcomer@example.com has used this gateway yet; revoked anyway: it applies when they first appear");
    expect((await meStatus(await forge.sign({ sub: "sub-new", username: "newcomer", email: "Newcomer@example.com" }))).reason).toBe("person_revoked");
    const nothing = (await (await adminCall("revocations?user=nobody-at-all", { method: "DELETE" })).json()) as Record<string, unknown>;
    expect(nothing).toMatchObject({ restored: false, matched: [], lifted: [] });
  });

  test("a signed-out session: 401 session_revoked, which signing in again cures", async () => {
    const token = await forge.sign({ sub: "sub-out", username: "out", origin_jti: "s-out" });
    expect((await call("/_gateway/v1/logout", { method: "POST", credential: token })).status).toBe(200);
    const r = await meStatus(token);
    expect(r).toMatchObject({ status: 401, reason: "session_revoked" });
    expect(r.message).toContain("sign in again");
  });

  test("budgets and limits: matched people in the answer; a forced kind sets it by that person's sub; clear by another identifier", async () => {
    const token = await forge.sign({ sub: "sub-bea", username: "bea@example.com", email: "beatrice@example.com" });
    await seen(token);
    const set = (await (await adminCall("budgets", { method: "PUT", body: JSON.stringify({ user: "bea@example.com", kind: "username", period: "day", usd: 1 }) })).json()) as Record<string, unknown>;
    expect(set).toMatchObject({ user: "sub-bea", matched: [{ sub: "sub-bea", matched_by: ["username"] }] });
    expect(await (await adminCall("budgets?user=beatrice@example.com&period=day", { method: "DELETE" })).json()).toMatchObject({ cleared: 1, matched: [{ sub: "sub-bea" }] });
    expect(await anthropicError(await adminCall("limits", { method: "PUT", body: JSON.stringify({ user: "ghost@example.com", kind: "email", rpm: 1 }) }), 400, "invalid_request_error")).toContain("no token seen for ghost@example.com");
    const limit = (await (await adminCall("limits", { method: "PUT", body: JSON.stringify({ user: "ghost", rpm: 1 }) })).json()) as Record<string, unknown>;
    expect(limit).toMatchObject({ user: "ghost", rpm: 1, matched: [] });
    expect(String(limit.note)).toContain("it applies when they first appear");
  });
});

describe("bad input is 400 invalid_request_error saying what to fix", () => {
  const cases: [string, string, RequestInit, string][] = [
    ["not JSON", "budgets", { method: "PUT", body: "{nope" }, "JSON object"],
    ["a JSON array", "limits", { method: "PUT", body: "[]" }, "JSON object"],
    ["no subject", "budgets", { method: "PUT", body: JSON.stringify({ period: "day", usd: 1 }) }, "exactly one of user"],
    ["two subjects", "limits", { method: "PUT", body: JSON.stringify({ user: "a", group: "b", rpm: 1 }) }, "exactly one of user"],
    ["usd and tokens", "budgets", { method: "PUT", body: JSON.stringify({ user: "a", period: "day", usd: 1, tokens: 5 }) }, "exactly one of usd or tokens"],
    ["a negative amount", "budgets", { method: "PUT", body: JSON.stringify({ user: "a", period: "day", usd: -1 }) }, "non-negative"],
    ["a bad period", "budgets", { method: "PUT", body: JSON.stringify({ user: "a", period: "week", usd: 1 }) }, "period is day or month"],
    ["a bad unit", "budgets?user=a&period=day&unit=eur", { method: "DELETE" }, "unit is usd or tokens"],
    ["a bad day", "usage?since=yesterday", {}, "YYYY-MM-DD"],
    ["a bad format", "usage?format=xml", {}, "format is json or csv"],
    ["user and session", "revocations", { method: "POST", body: JSON.stringify({ user: "a", session: "j" }) }, "exactly one of user"],
    ["a bad kind", "revocations", { method: "POST", body: JSON.stringify({ user: "a", kind: "phone" }) }, "kind is sub, username or email"],
    ["a body over 64 KiB", "budgets", { method: "PUT", body: JSON.stringify({ user: "a", period: "day", usd: 1, pad: "x".repeat(70_000) }) }, "bytes"],
  ];
  for (const [name, resource, init, says] of cases) {
    test(name, async () => {
      expect(await anthropicError(await adminCall(resource, init), 400, "invalid_request_error")).toContain(says);
    });
  }
});

describe("logout", () => {
  test("denylists the session: 200 once, then 401 for the same token on logout and on the API", async () => {
    const token = await forge.sign({ sub: "sub-lou", username: "lou", origin_jti: "session-lou-1" });
    const first = await call("/_gateway/v1/logout", { method: "POST", credential: token });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ revoked: "session" });
    await anthropicError(await call("/_gateway/v1/logout", { method: "POST", credential: token }), 401, "authentication_error");
    await anthropicError(await call("/_gateway/v1/me/usage", { credential: token }), 401, "authentication_error");
    // another session of the same person is untouched
    const other = await forge.sign({ sub: "sub-lou", username: "lou", origin_jti: "session-lou-2" });
    expect((await call("/_gateway/v1/me/usage", { credential: other })).status).toBe(200);
  });

  test("no or a bad token: 401", async () => {
    await anthropicError(await call("/_gateway/v1/logout", { method: "POST", credential: null }), 401, "authentication_error");
    await anthropicError(await call("/_gateway/v1/logout", { method: "POST", credential: await forge.sign({ token_use: "id" }) }), 401, "authentication_error");
  });
});

describe("session: is this access token still accepted?", () => {
  test("200 with a tiny body while accepted; after a logout, or the person's revocation, the API's 401", async () => {
    const token = await forge.sign({ sub: "sub-sam", username: "sam", origin_jti: "session-sam-1" });
    const accepted = await call("/_gateway/v1/session", { credential: token });
    expect(accepted.status).toBe(200);
    const body = (await accepted.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ active: true, expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(JSON.stringify(body).length).toBeLessThan(100);
    expect((await call("/_gateway/v1/logout", { method: "POST", credential: token })).status).toBe(200);
    expect(await anthropicError(await call("/_gateway/v1/session", { credential: token }), 401, "authentication_error")).toContain("signed out");

    const other = await forge.sign({ sub: "sub-rev", username: "rev", origin_jti: "session-rev-1" });
    expect((await call("/_gateway/v1/session", { credential: other })).status).toBe(200);
    expect((await adminCall("revocations", { method: "POST", body: JSON.stringify({ user: "rev" }) })).status).toBe(200);
    expect(await anthropicError(await call("/_gateway/v1/session", { credential: other }), 401, "authentication_error")).toContain("an administrator of this tenant withdrew your access");
  });

  test("no token or a bad one: 401; another method: 405 with Allow: GET", async () => {
    await anthropicError(await call("/_gateway/v1/session", { credential: null }), 401, "authentication_error");
    await anthropicError(await call("/_gateway/v1/session", { credential: "not-a-jwt" }), 401, "authentication_error");
    const post = await call("/_gateway/v1/session", { method: "POST", credential: await forge.sign({ sub: "s" }) });
    expect(post.headers.get("allow")).toBe("GET");
    await anthropicError(post, 405, "invalid_request_error");
  });
});

describe("every call is one log line and counted, like an API request", () => {
  test("me/usage, logout and an admin call, answered or refused: one line each with route, status, who and a request id; in proxy_requests_total", async () => {
    const token = await forge.sign({ sub: "sub-lou", username: "lou", email: "lou@example.com", origin_jti: "s-lou" });
    const before = lines.length;
    expect((await call("/_gateway/v1/me/usage", { credential: token })).status).toBe(200);
    expect((await call("/_gateway/v1/logout", { method: "POST", credential: token })).status).toBe(200);
    expect((await call("/_gateway/v1/me/usage", { credential: token })).status).toBe(401);
    expect((await adminCall("limits")).status).toBe(200);
    expect((await adminCall("budgets", { method: "PATCH", body: "{}" })).status).toBe(400);
    const mine = lines.slice(before);
    expect(mine.map((l) => [l.route, l.status, l.reject_reason])).toEqual([
      ["me_usage", 200, undefined],
      ["logout", 200, undefined],
      ["me_usage", 401, "session_revoked"],
      ["admin_limits", 200, undefined],
      ["admin_budgets", 400, "bad_input"],
    ]);
    for (const line of mine.slice(0, 3)) expect(line).toMatchObject({ tenant: "acme", sub: "sub-lou", username: "lou", display_name: "lou@example.com", request_id: expect.stringMatching(/^req_proxy_/) });
    expect(mine[3]).toMatchObject({ username: "admin-key", method: "GET" });
    expect(mine.every((l) => typeof l.duration_ms === "number")).toBe(true);
    const metrics = await proxy.metrics.registry.metrics();
    for (const sample of ['route="me_usage",status="200"', 'route="logout",status="200"', 'route="me_usage",status="401"', 'route="admin_limits",status="200"', 'route="admin_budgets",status="400"']) expect(metrics).toContain(`proxy_requests_total{tenant="acme",${sample}}`);
    expect(metrics).toContain('proxy_request_duration_seconds_count{tenant="acme",route="me_usage"}');
  });

  test("a refusal's request-id is its log line's", async () => {
    const refused = await call("/_gateway/v1/me/usage", { credential: null });
    const id = refused.headers.get("request-id");
    expect(id).toStartWith("req_proxy_");
    expect(lines.find((l) => l.request_id === id)).toMatchObject({ route: "me_usage", status: 401, reject_reason: "missing" });
  });
});

describe("the audit log", () => {
  test("every change through the admin API is a row (actor, action, target, old, new, request id); reads and refused calls are not; the log is read-only", async () => {
    const since = new Date().toISOString();
    const put = (resource: string, body: unknown, credential = ADMIN_KEY) => adminCall(resource, { method: "PUT", body: JSON.stringify(body), credential });
    expect((await put("budgets", { group: "audit-eng", period: "month", usd: 50 })).status).toBe(200);
    const changed = await put("budgets", { group: "audit-eng", period: "month", usd: 80 }, adminToken);
    expect(changed.status).toBe(200);
    expect((await adminCall("limits", { method: "PUT", body: JSON.stringify({ group: "audit-eng", rpm: 10 }) })).status).toBe(200);
    expect((await adminCall("budgets?group=audit-eng&period=month", { method: "DELETE" })).status).toBe(200);
    expect((await adminCall("revocations", { method: "POST", body: JSON.stringify({ session: "audit-session-1", reason: "lost laptop" }) })).status).toBe(200);
    expect((await adminCall("revocations?session=audit-session-1", { method: "DELETE" })).status).toBe(200);
    expect((await adminCall("budgets?group=nobody-here&period=day", { method: "DELETE" })).status).toBe(200); // nothing cleared: no row
    expect((await adminCall("budgets", { method: "PUT", body: JSON.stringify({ group: "audit-eng", period: "week", usd: 1 }) })).status).toBe(400);
    const answer = await adminCall(`audit?since=${encodeURIComponent(since)}`);
    expect(answer.status).toBe(200);
    const rows = (await answer.json()) as Record<string, unknown>[];
    expect(rows.map((r) => [r.action, r.target])).toEqual([
      ["budget.set", "group audit-eng"],
      ["budget.set", "group audit-eng"],
      ["limit.set", "group audit-eng"],
      ["budget.clear", "group audit-eng"],
      ["revoke", "session audit-session-1"],
      ["restore", "session audit-session-1"],
    ]);
    const keyActor = rows[0]!.actor as string;
    expect(keyActor).toMatch(/^admin key [0-9a-f]{8}$/);
    expect(keyActor).not.toContain(ADMIN_KEY.slice(0, 8));
    expect(rows[1]).toMatchObject({ actor: "ada", actor_sub: "sub-admin", old: { group: "audit-eng", limit: 50 }, new: { group: "audit-eng", limit: 80 } });
    expect(rows[3]).toMatchObject({ old: [{ group: "audit-eng", period: "month", unit: "usd", limit: 80 }], new: null });
    expect(rows[4]!.new).toMatchObject([{ kind: "origin_jti", value: "audit-session-1", reason: "lost laptop" }]);
    for (const r of rows) expect(String(r.request_id)).toStartWith("req_proxy_");
    // the row's request id is the one of the change's log line
    const logged = new Set(lines.filter((l) => String(l.route).startsWith("admin_")).map((l) => l.request_id));
    for (const r of rows) expect(logged.has(String(r.request_id))).toBe(true);
    for (const method of ["PUT", "POST", "DELETE"]) expect((await adminCall("audit", { method })).status).toBe(400);
    expect(await anthropicError(await adminCall("audit?since=yesterday"), 400, "invalid_request_error")).toContain("since");
  });
});
