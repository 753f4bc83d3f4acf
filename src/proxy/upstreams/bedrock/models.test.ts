import { describe, expect, test } from "bun:test";
import { DEFAULT_PRICES } from "../../accounting/pricing.ts";
import { BedrockModelMap, DEFAULT_BEDROCK_MODELS, foundationModelId, geographiesOf, invocationId } from "./models.ts";

describe("the default table", () => {
  test("is dated, sourced, and every model is one the price table knows", () => {
    expect(DEFAULT_BEDROCK_MODELS.effective).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(DEFAULT_BEDROCK_MODELS.source).toContain("https://");
    for (const [model, entry] of Object.entries(DEFAULT_BEDROCK_MODELS.models)) {
      expect(Object.hasOwn(DEFAULT_PRICES.models, model)).toBe(true);
      expect(entry.id).toMatch(/^anthropic\.claude-[a-z0-9.-]+(?::\d+)?$/);
      expect(entry.released ?? "").toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    expect(DEFAULT_BEDROCK_MODELS.betas).toContain("interleaved-thinking-2025-05-14");
    // Claude Code always sends this one; Bedrock refuses it ("invalid beta flag")
    expect(DEFAULT_BEDROCK_MODELS.betas).not.toContain("claude-code-20250219");
  });
});

describe("inference profiles", () => {
  const sonnet = DEFAULT_BEDROCK_MODELS.models["claude-sonnet-4-5"]!;
  const opus41 = DEFAULT_BEDROCK_MODELS.models["claude-opus-4-1"]!;
  test("geographies of Regions", () => {
    expect(geographiesOf("us-east-1")).toEqual(["us"]);
    expect(geographiesOf("us-gov-west-1")).toEqual(["us-gov"]);
    expect(geographiesOf("eu-central-1")).toEqual(["eu"]);
    expect(geographiesOf("ap-northeast-1")).toEqual(["jp", "apac"]);
    expect(geographiesOf("ap-southeast-2")).toEqual(["au", "apac"]);
    expect(geographiesOf("ap-south-1")).toEqual(["apac"]);
    expect(geographiesOf("me-central-1")).toEqual([]);
  });
  test("geo keeps the data in the Region's geography; global only when asked", () => {
    expect(invocationId(sonnet, "us-east-1", "geo")).toBe("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(invocationId(sonnet, "eu-west-3", "geo")).toBe("eu.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(invocationId(sonnet, "ap-northeast-1", "geo")).toBe("jp.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(invocationId(sonnet, "us-east-1", "global")).toBe("global.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(invocationId(sonnet, "us-east-1", "none")).toBe("anthropic.claude-sonnet-4-5-20250929-v1:0");
    // no EU profile for Opus 4.1: the foundation model in the Region (never a silent move abroad)
    expect(invocationId(opus41, "eu-west-1", "geo")).toBe("anthropic.claude-opus-4-1-20250805-v1:0");
    // no global profile: the geography's
    expect(invocationId(opus41, "us-west-2", "global")).toBe("us.anthropic.claude-opus-4-1-20250805-v1:0");
  });
  test("the foundation model under a profile (CountTokens takes only those)", () => {
    expect(foundationModelId("us.anthropic.claude-sonnet-4-5-20250929-v1:0")).toBe("anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(foundationModelId("global.anthropic.claude-opus-4-6-v1")).toBe("anthropic.claude-opus-4-6-v1");
    expect(foundationModelId("us-gov.anthropic.claude-3-haiku-20240307-v1:0")).toBe("anthropic.claude-3-haiku-20240307-v1:0");
    expect(foundationModelId("anthropic.claude-3-haiku-20240307-v1:0")).toBe("anthropic.claude-3-haiku-20240307-v1:0");
    expect(foundationModelId("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc")).toBeUndefined();
  });
});

describe("a Bedrock upstream's models", () => {
  test("client ids resolve as the price table resolves them", () => {
    const map = new BedrockModelMap(DEFAULT_BEDROCK_MODELS, "us-east-1", "geo");
    expect(map.resolve("claude-sonnet-4-5")).toBe("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(map.resolve("claude-sonnet-4-5-20250929")).toBe("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(map.resolve("claude-sonnet-4-5[1m]")).toBe("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    expect(map.resolve("claude-opus-4-0")).toBe("us.anthropic.claude-opus-4-20250514-v1:0"); // alias
    expect(map.resolve("claude-haiku-3-5")).toBe("us.anthropic.claude-3-5-haiku-20241022-v1:0"); // alias
    expect(map.resolve("claude-fable-5-1")).toBeUndefined();
    expect(map.resolve("gpt-5")).toBeUndefined();
  });
  test("the upstream's models go over the table: replaced, added, removed", () => {
    const map = new BedrockModelMap(DEFAULT_BEDROCK_MODELS, "us-east-1", "geo", {
      "claude-sonnet-4-5": "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/team-a",
      "claude-opus-4-7": "us.anthropic.claude-opus-4-7",
      "claude-3-haiku": null,
    });
    expect(map.resolve("claude-sonnet-4-5-20250929")).toBe("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/team-a");
    expect(map.resolve("claude-opus-4-7")).toBe("us.anthropic.claude-opus-4-7");
    expect(map.resolve("claude-3-haiku-20240307")).toBeUndefined();
    const listed = map.list();
    expect(listed.map((m) => m.id)).toContain("claude-opus-4-7");
    expect(listed.map((m) => m.id)).not.toContain("claude-3-haiku");
    expect(listed.find((m) => m.id === "claude-sonnet-4-5")).toEqual({ id: "claude-sonnet-4-5", displayName: "Claude Sonnet 4.5", createdAt: "2025-09-29T00:00:00Z" });
  });
});
