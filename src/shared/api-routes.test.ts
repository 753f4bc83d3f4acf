import { describe, expect, test } from "bun:test";
import { decideRoute, safeQuery, type RouteDecision } from "./api-routes.ts";

const forward = (route: string, upstreamPath: string, search = "") => ({ kind: "forward" as const, route, upstreamPath, search }) as RouteDecision;

describe("decideRoute: the allowlist", () => {
  test("the four API routes under both base URLs", () => {
    for (const base of ["/anthropic/v1/v1", "/anthropic/v1"]) {
      expect(decideRoute("POST", `${base}/messages`, "?beta=true")).toEqual(forward("messages", "/v1/messages", "?beta=true"));
      expect(decideRoute("POST", `${base}/messages/count_tokens`, "")).toEqual(forward("count_tokens", "/v1/messages/count_tokens"));
      expect(decideRoute("GET", `${base}/models`, "?limit=20&after_id=x")).toEqual(forward("models", "/v1/models", "?limit=20&after_id=x"));
      expect(decideRoute("GET", `${base}/models/claude-sonnet-4-5-20250929`, "")).toEqual(forward("models", "/v1/models/claude-sonnet-4-5-20250929"));
    }
  });

  test("HEAD under /anthropic is the local probe", () => {
    expect(decideRoute("HEAD", "/anthropic/v1", "")).toEqual({ kind: "probe" });
    expect(decideRoute("HEAD", "/anthropic", "")).toEqual({ kind: "probe" });
    expect(decideRoute("HEAD", "/other", "")).toMatchObject({ kind: "reject", status: 404 });
  });

  test("everything else is 404, batches and files included", () => {
    const refused: [string, string][] = [
      ["POST", "/anthropic/v1/v1/messages/batches"],
      ["GET", "/anthropic/v1/v1/messages/batches/msgbatch_1/results"],
      ["GET", "/anthropic/v1/v1/files"],
      ["POST", "/anthropic/v1/files"],
      ["DELETE", "/anthropic/v1/v1/files/file_1"],
      ["GET", "/anthropic/v1/v1/messages"],
      ["DELETE", "/anthropic/v1/v1/models/x"],
      ["POST", "/anthropic/v1/v1/v1/messages"],
      ["GET", "/anthropic/admin"],
      ["GET", "/anthropic"],
      ["POST", "/anthropic/v1/v1/messages/count_tokens/x"],
      ["GET", "/anthropic/v1/v1/models/a/b"],
      ["GET", "/anthropic/v2/models"],
      ["GET", "/anthropicx/v1/models"],
    ];
    for (const [method, path] of refused) expect(decideRoute(method, path, "")).toMatchObject({ kind: "reject", status: 404, reason: "not_allowed" });
  });

  test("ambiguous paths are refused, not interpreted", () => {
    for (const path of [
      "/anthropic/v1/v1/messages%2f..%2fadmin",
      "/anthropic/v1/v1/%2e%2e/admin",
      "/anthropic/v1/v1/models/%252e%252e",
      "/anthropic/v1/v1/models\\..\\admin",
      "/anthropic//v1/messages",
      "/anthropic/v1/v1/messages/",
      "/anthropic/v1/./messages",
      "/anthropic/v1/v1/models/..",
      "/anthropic/v1/v1/messages#x",
      "/anthropic/v1/v1/messages;x",
      "/anthropic/v1/v1/models/%C3%A9",
    ]) {
      const method = path.includes("models") ? "GET" : "POST";
      expect(decideRoute(method, path, "")).toMatchObject({ kind: "reject", status: 404 });
    }
  });

  test("model ids: a safe charset, bounded", () => {
    expect(decideRoute("GET", "/anthropic/v1/models/claude-3-7-sonnet-latest", "")).toMatchObject({ kind: "forward" });
    expect(decideRoute("GET", `/anthropic/v1/models/${"a".repeat(129)}`, "")).toMatchObject({ kind: "reject", reason: "bad_model_id" });
    expect(decideRoute("GET", "/anthropic/v1/models/a~b", "")).toMatchObject({ kind: "reject", reason: "bad_model_id" });
  });

  test("the query is re-encoded, so it can never carry a path", () => {
    expect(safeQuery("?x=/../../admin")).toBe("?x=%2F..%2F..%2Fadmin");
    expect(safeQuery("?/../admin")).toBeNull();
    expect(safeQuery("?a=%2F")).toBe("?a=%2F");
    expect(safeQuery("?" + "a=1&".repeat(21))).toBeNull();
    expect(safeQuery("?a=" + "x".repeat(3000))).toBeNull();
    expect(decideRoute("POST", "/anthropic/v1/messages", "?/../admin")).toMatchObject({ kind: "reject", status: 400, reason: "bad_query" });
  });
});
