import { describe, expect, test } from "bun:test";
import { filterModelList, modelRefusal, modelSources, shownModel } from "./models.ts";
import { parsePolicyText } from "./parse.ts";
import { compilePolicy } from "./resolve.ts";

const policy = compilePolicy(
  parsePolicyText('{"groups": {"contractors": {"models": ["claude-haiku-*"]}, "developers": {"models": ["claude-sonnet-*", "claude-haiku-*"]}, "ops": {}, "interns": {"models": []}}, "default": {"models": ["claude-haiku-*"]}}', "p.json").policy,
);

const model = (id: string) => ({ type: "model", id, display_name: id, created_at: "2025-01-01T00:00:00Z" });
const PAGE = { data: ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-haiku"].map(model), has_more: true, first_id: "claude-opus-4-1", last_id: "claude-3-haiku" };

describe("refusal", () => {
  test("names the model and what the person's groups allow", () => {
    expect(modelRefusal("claude-opus-4-1", policy.access(["developers", "contractors"]))).toEqual({
      status: 403,
      type: "permission_error",
      message: 'The model "claude-opus-4-1" is not available to you: your groups (contractors, developers) may use: claude-haiku-*, claude-sonnet-*.',
      allowed: ["claude-haiku-*", "claude-sonnet-*"],
    });
    expect(modelRefusal("claude-opus-4-1", policy.access(["contractors"])).message).toBe('The model "claude-opus-4-1" is not available to you: your group (contractors) may use: claude-haiku-*.');
  });

  test("for people in no listed group, and for a set that allows nothing", () => {
    expect(modelRefusal("claude-opus-4-1", policy.access([])).message).toBe(`The model "claude-opus-4-1" is not available to you: people in none of the policy's groups may use: claude-haiku-*.`);
    expect(modelRefusal("claude-opus-4-1", policy.access(["interns"])).message).toBe("The model \"claude-opus-4-1\" is not available to you: your group (interns) may use no model through this gateway; ask an administrator for access.");
  });

  test("a hostile model id is echoed printable and short", () => {
    expect(shownModel("x\u001b[31m\n" + "y".repeat(200))).toBe(`x?[31m?${"y".repeat(90)}...`);
    expect(modelRefusal("\u001b]0;pwned\u0007", policy.access([])).message).not.toMatch(/[\u0000-\u001f]/);
  });

  test("explain: each pattern with its source", () => {
    expect(modelSources(policy.access(["developers", "contractors"]))).toEqual([
      { pattern: "claude-haiku-*", source: "group contractors" },
      { pattern: "claude-sonnet-*", source: "group developers" },
    ]);
    expect(modelSources(policy.access(["ops", "contractors"]))).toEqual([{ pattern: "*", source: "group ops" }]);
    expect(modelSources(policy.access([]))).toEqual([{ pattern: "claude-haiku-*", source: "default" }]);
  });
});

describe("the model list", () => {
  test("zero, one and two groups see only their models; paging ids name what is left", () => {
    const seen = (groups: string[]) => {
      const r = filterModelList(PAGE, (m) => policy.access(groups).mayUse(m));
      if (!r.ok) throw new Error(r.reason);
      return r.body;
    };
    expect(seen([])).toEqual({ data: [model("claude-haiku-4-5")], has_more: true, first_id: "claude-haiku-4-5", last_id: "claude-haiku-4-5" });
    expect(seen(["contractors"]).data).toEqual([model("claude-haiku-4-5")]);
    expect(seen(["developers", "contractors"])).toEqual({ data: [model("claude-sonnet-4-5"), model("claude-haiku-4-5")], has_more: true, first_id: "claude-sonnet-4-5", last_id: "claude-haiku-4-5" });
    expect(seen(["ops"])).toEqual(PAGE);
  });

  test("a page filtered empty keeps the upstream's cursors while more follow, null on the last page", () => {
    const none = () => false;
    expect(filterModelList(PAGE, none)).toEqual({ ok: true, removed: 4, body: { data: [], has_more: true, first_id: "claude-opus-4-1", last_id: "claude-3-haiku" } });
    expect(filterModelList({ ...PAGE, has_more: false }, none)).toEqual({ ok: true, removed: 4, body: { data: [], has_more: false, first_id: null, last_id: null } });
  });

  test("other fields are kept; entries without an id are dropped", () => {
    const r = filterModelList({ ...PAGE, data: [...PAGE.data, { type: "model" }, "x", null], extra: 1 }, () => true);
    expect(r.ok && r.body.extra).toBe(1);
    expect(r.ok && (r.body.data as unknown[]).length).toBe(4);
  });

  test("something that is not a model list is refused, never passed on unfiltered", () => {
    expect(filterModelList([], () => true)).toEqual({ ok: false, reason: "the model list is not a JSON object" });
    expect(filterModelList({ data: "x" }, () => true)).toEqual({ ok: false, reason: "the model list has no `data` array" });
    expect(filterModelList(null, () => true).ok).toBe(false);
  });
});
