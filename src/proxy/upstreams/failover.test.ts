import { expect, test } from "bun:test";
import { verdictOf } from "./failover.ts";

test("capacity and availability failures go to the next upstream, each with its reason", () => {
  for (const status of [429, 500, 502, 503, 504, 529]) {
    expect(verdictOf({ kind: "response", status })).toEqual({ action: "next", reason: String(status) as "429" });
  }
  expect(verdictOf({ kind: "unreachable" })).toEqual({ action: "next", reason: "unreachable" });
  expect(verdictOf({ kind: "timeout" })).toEqual({ action: "next", reason: "timeout" });
});

test("an upstream refusing the gateway's own key or account is that upstream's failure", () => {
  expect(verdictOf({ kind: "response", status: 401 })).toEqual({ action: "next", reason: "upstream_auth" });
  expect(verdictOf({ kind: "response", status: 403 })).toEqual({ action: "next", reason: "upstream_auth" });
});

test("success and the client's own faults are served as they are", () => {
  for (const status of [200, 201, 204, 400, 404, 405, 409, 413, 422, 501]) {
    expect(verdictOf({ kind: "response", status })).toEqual({ action: "serve" });
  }
});

test("the client gone: no further attempt", () => {
  expect(verdictOf({ kind: "cancelled" })).toEqual({ action: "stop" });
});
