import { describe, expect, test } from "bun:test";
import { ADMIN_PATH, GATEWAY_PREFIX, gatewayEndpointsJson, LOGOUT_PATH, ME_USAGE_PATH, myUsageToWire, type MyUsageJson, parseBudgets, parseMyUsage, ShapeError } from "./gateway-api.ts";

const FIGURES = { requests: 2, input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 1, cache_creation_5m_input_tokens: 1, cache_creation_1h_input_tokens: 0, cache_read_input_tokens: 3, web_search_requests: 0, cost_usd: 0.5, unpriced_requests: 0 };

describe("the gateway API both sides agree on", () => {
  test("every path is under the gateway's prefix, and the discovery members name them on the tenant's base", () => {
    for (const path of [LOGOUT_PATH, ME_USAGE_PATH, ADMIN_PATH]) expect(path.startsWith(GATEWAY_PREFIX)).toBe(true);
    expect(gatewayEndpointsJson("https://acme.proxy.example.com")).toEqual({ logout_endpoint: `https://acme.proxy.example.com${LOGOUT_PATH}`, usage_endpoint: `https://acme.proxy.example.com${ME_USAGE_PATH}` });
  });

  test("a me/usage answer as the gateway writes it parses, and the parsed form writes back to the same JSON", () => {
    const wire: MyUsageJson = {
      user: "alice@example.com",
      sub: "sub-1",
      groups: ["eng"],
      today: { day: "2026-12-04", ...FIGURES },
      month: { month: "2026-12", ...FIGURES },
      budgets: [{ group: "eng", period: "month", unit: "usd", soft: false, limit: 100, used: 1, remaining: 99, resets_at: "2027-01-01T00:00:00.000Z" }, { tenant: true, period: "day", unit: "tokens", soft: true, limit: 10, used: 0, remaining: 10, resets_at: "2026-12-05T00:00:00.000Z" }],
    };
    const parsed = parseMyUsage(JSON.parse(JSON.stringify(wire)));
    expect(parsed.budgets.map((b) => b.subject)).toEqual([{ group: "eng" }, { tenant: true }]);
    expect(myUsageToWire(parsed)).toEqual(wire);
  });

  test("an answer of another shape is a ShapeError naming the field, never a crash", () => {
    expect(() => parseBudgets([{ group: "eng", period: "week", unit: "usd", limit: 1 }])).toThrow(new ShapeError("budgets[0].period is not day or month"));
    expect(() => parseMyUsage({ user: "a" })).toThrow(ShapeError);
  });
});
