import { describe, expect, test } from "bun:test";
import { fakeContext, PROFILE } from "../../../../test/support/fake-context.ts";
import { gatewayChecks, pieces, type StreamProbe } from "./gateway-checks.ts";
import { placeCheck } from "./surface-checks.ts";

const BASE = "https://acme.proxy.example.com/anthropic/v1";
function gateway(overrides: { badTokenChallenge?: boolean; count?: number } = {}) {
  return fakeContext({
    oauth: {
      fetch: async (url, init) => {
        const auth = new Headers(init?.headers).get("authorization");
        if (init?.method === "HEAD") return new Response(null, { status: 200 });
        if (auth !== "Bearer good") return new Response("{}", { status: 401, headers: overrides.badTokenChallenge === false ? {} : { "www-authenticate": 'Bearer error="invalid_token"' } });
        if (url.endsWith("/count_tokens")) return Response.json({ input_tokens: overrides.count ?? 9 });
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

  test("a buffered stream fails with the fix; without --deep it is skipped", async () => {
    const [, , , buffered] = await gatewayChecks(gateway().ctx, PROFILE, BASE, "good", "m", true, stream([300, 301, 302]));
    expect(buffered).toMatchObject({ verdict: "fail", detail: expect.stringContaining("arrived in one piece"), fix: expect.stringContaining("proxy_buffering off") });
    const skipped = await gatewayChecks(gateway().ctx, PROFILE, BASE, "good", "m", false, stream([]));
    expect(skipped.at(-1)).toMatchObject({ name: "streaming", verdict: "skip" });
  });

  test("a 401 without WWW-Authenticate is a warning naming the header", async () => {
    const checks = await gatewayChecks(gateway({ badTokenChallenge: false }).ctx, PROFILE, BASE, "good", "m", false, stream([]));
    expect(checks[1]).toMatchObject({ name: "gateway auth", verdict: "warn", detail: expect.stringContaining("without WWW-Authenticate") });
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
