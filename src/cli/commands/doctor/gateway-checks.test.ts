import { describe, expect, test } from "bun:test";
import { fakeContext, PROFILE } from "../../../../test/support/fake-context.ts";
import { gatewayChecks, pieces, refusalAdvice, streamingCheck, type StreamProbe, type StreamResult } from "./gateway-checks.ts";
import { placeCheck } from "./surface-checks.ts";

const BASE = "https://acme.proxy.example.com/anthropic/v1";
function gateway(overrides: { badTokenChallenge?: boolean; count?: number; countAnswer?: () => Response } = {}) {
  return fakeContext({
    oauth: {
      fetch: async (url, init) => {
        const auth = new Headers(init?.headers).get("authorization");
        if (init?.method === "HEAD") return new Response(null, { status: 200 });
        if (auth !== "Bearer good") return new Response("{}", { status: 401, headers: overrides.badTokenChallenge === false ? {} : { "www-authenticate": 'Bearer error="invalid_token"' } });
        if (url.endsWith("/count_tokens")) return overrides.countAnswer?.() ?? Response.json({ input_tokens: overrides.count ?? 9 });
        return new Response("{}", { status: 404 });
      },
    },
  });
}
const stream = (reads: number[]): StreamProbe => async () => ({ status: 200, reads: reads.map((atMs) => ({ atMs, bytes: 100 })), text: "event: message_stop\n" });

describe("gateway checks", () => {
  test("pieces: reads closer than 20 ms are one piece", () => {
    expect(pieces([])).toBe(0);
    expect(pieces([{ atMs: 5, bytes: 1 }, { atMs: 6, bytes: 1 }, { atMs: 10, bytes: 1 }])).toBe(1);
    expect(pieces([{ atMs: 5, bytes: 1 }, { atMs: 60, bytes: 1 }, { atMs: 200, bytes: 1 }])).toBe(3);
  });

  test("a healthy gateway: probe, 401 with WWW-Authenticate, count_tokens, a stream in pieces", async () => {
    const checks = await gatewayChecks(gateway().ctx, PROFILE, BASE, "good", "claude-stub", true, stream([10, 80, 150]));
    expect(checks.map((c) => [c.name, c.verdict])).toEqual([["gateway probe", "pass"], ["gateway auth", "pass"], ["count_tokens", "pass"], ["streaming", "pass"]]);
  });

  test("a held-back stream fails with the fix; without --deep it is skipped", async () => {
    const [, , , buffered] = await gatewayChecks(gateway().ctx, PROFILE, BASE, "good", "m", true, stream([2400, 2401, 2402]));
    expect(buffered).toMatchObject({ verdict: "fail", detail: expect.stringContaining("arrived in one piece"), fix: expect.stringContaining("proxy_buffering off") });
    const skipped = await gatewayChecks(gateway().ctx, PROFILE, BASE, "good", "m", false, stream([]));
    expect(skipped.at(-1)).toMatchObject({ name: "streaming", verdict: "skip" });
  });

  test("a 401 without WWW-Authenticate is a warning naming the header", async () => {
    const checks = await gatewayChecks(gateway({ badTokenChallenge: false }).ctx, PROFILE, BASE, "good", "m", false, stream([]));
    expect(checks[1]).toMatchObject({ name: "gateway auth", verdict: "warn", detail: expect.stringContaining("without WWW-Authenticate") });
  });
});

describe("the --deep stream: short and sent at once, or held back", () => {
  const result = (reads: number[], extra: Partial<StreamResult> = {}): StreamResult => ({ status: 200, reads: reads.map((atMs) => ({ atMs, bytes: 900 })), text: "event: message_stop\n", ...extra });

  test("in pieces: it streams", () => {
    expect(streamingCheck(result([3, 600, 601], { headersAtMs: 2 }))).toMatchObject({ verdict: "pass", detail: expect.stringContaining("arrived in 2 pieces over 598 ms") });
  });

  test("one piece soon after the request: a short answer, no blame", () => {
    const check = streamingCheck(result([4, 5], { headersAtMs: 4 }));
    expect(check.verdict).toBe("pass");
    expect(check.detail).toContain("short: it arrived whole 5 ms after the request");
    expect(check.detail).not.toMatch(/buffer/);
    expect(check.fix).toBeUndefined();
  });

  test("one piece, headers and all, long after the request: held back", () => {
    expect(streamingCheck(result([2405], { headersAtMs: 2404 }))).toMatchObject({ verdict: "fail", detail: expect.stringMatching(/one piece, headers and all, only 2405 ms after the request: small events were held back/) });
    // headers time unknown: taken to have come with the body
    expect(streamingCheck(result([1500])).verdict).toBe("fail");
  });

  test("compression on the way is named: held back when late, a warning when too short to tell", () => {
    const gzip = new Headers({ "content-encoding": "gzip" });
    expect(streamingCheck(result([2405], { headersAtMs: 2405, headers: gzip }))).toMatchObject({ verdict: "fail", detail: expect.stringContaining("compressed (content-encoding: gzip)") });
    expect(streamingCheck(result([8], { headersAtMs: 8, headers: gzip }))).toMatchObject({ verdict: "warn", fix: expect.stringContaining("gzip off") });
    expect(streamingCheck(result([8], { headersAtMs: 8, headers: new Headers({ "content-encoding": "identity" }) })).verdict).toBe("pass");
  });

  test("headers at once, then the whole body late in one piece: cannot tell, a warning that says both", () => {
    expect(streamingCheck(result([1500, 1501], { headersAtMs: 40 }))).toMatchObject({ verdict: "warn", detail: expect.stringContaining("either the upstream sent this one-token answer in one go"), fix: expect.stringContaining("proxy_buffering off") });
  });

  test("an error status or a stream without message_stop fails", () => {
    expect(streamingCheck({ status: 429, reads: [], text: '{"error":{"message":"slow down"}}' })).toMatchObject({ verdict: "fail", detail: expect.stringContaining("429: slow down") });
    expect(streamingCheck(result([5, 300], { text: "event: message_start\n" }))).toMatchObject({ verdict: "fail", detail: expect.stringContaining("without message_stop") });
  });
});

describe("refusals the gateway explains", () => {
  const refusal = (status: number, reason: string, message: string) => () => Response.json({ type: "error", error: { type: "api_error", message } }, { status, headers: { "x-agent-runner-reason": reason } });

  test("the upstream refused the tenant's key: the gateway's problem, never 'log in'", async () => {
    const checks = await gatewayChecks(gateway({ countAnswer: refusal(502, "upstream_auth", "the gateway's upstream credential was refused; contact your administrator") }).ctx, PROFILE, BASE, "good", "m", false, stream([]));
    const count = checks.find((c) => c.name === "count_tokens");
    expect(count?.verdict).toBe("fail");
    expect(count?.detail).toContain("answered 502: the Anthropic API refused the gateway's own credential");
    expect(count?.detail).toContain("the gateway's problem, not your sign-in");
    expect(count?.fix).toContain("gateway's operator");
    expect(count?.fix).not.toContain("agent-runner-auth login");
  });

  test("revoked by an administrator: ask them, signing in again will not help; a signed-out session: log in", () => {
    expect(refusalAdvice(new Headers({ "x-agent-runner-reason": "person_revoked" }))?.fix).toContain("will not help");
    expect(refusalAdvice(new Headers({ "x-agent-runner-reason": "session_revoked" }), "agent-runner-auth login --profile work")?.fix).toBe("agent-runner-auth login --profile work");
    expect(refusalAdvice(new Headers({ "x-agent-runner-reason": "token_expired" }))).toBeUndefined();
    expect(refusalAdvice(new Headers({ "x-agent-runner-reason": "made_up" }))).toBeUndefined();
  });
});

describe("where the sign-in happens", () => {
  const facts = { platform: "linux" as const, osRelease: null, exists: () => false, read: () => null, join: (_p: string, ...parts: string[]) => parts.join("/") };
  test("an SSH session: a warning with the port forward and the paste flow", () => {
    const fake = fakeContext({ env: { SSH_CONNECTION: "1.2.3.4 5 6.7.8.9 22" } });
    const check = placeCheck(fake.ctx, PROFILE, facts);
    expect(check).toMatchObject({ name: "sign-in here", verdict: "warn", detail: expect.stringContaining("SSH_CONNECTION is set") });
    expect(check.fix).toContain("ssh -L 53682:localhost:53682");
    expect(check.fix).toContain("--no-browser");
  });
  test("a local session passes", () => {
    expect(placeCheck(fakeContext().ctx, PROFILE, facts).verdict).toBe("pass");
  });
});
