import { expect, test } from "bun:test";
import { newRequestId } from "./request-id.ts";

test("request ids: req_proxy_ and 32 hex digits, the time first so that later ids sort after earlier ones", () => {
  const first = newRequestId(Date.parse("2026-12-04T10:00:00.000Z"));
  const later = newRequestId(Date.parse("2026-12-04T10:00:00.001Z"));
  expect(first).toMatch(/^req_proxy_[0-9a-f]{32}$/);
  expect(first.slice(10, 22)).toBe(Date.parse("2026-12-04T10:00:00.000Z").toString(16).padStart(12, "0"));
  expect(later > first).toBe(true);
});

test("request ids of the same millisecond differ (80 random bits each, drawn from a pool refilled as it runs out)", () => {
  const ids = new Set(Array.from({ length: 100_000 }, () => newRequestId(1_765_000_000_000)));
  expect(ids.size).toBe(100_000);
});
