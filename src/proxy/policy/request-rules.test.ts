import { expect, test } from "bun:test";
import { compilePolicy } from "../../shared/policy/resolve.ts";
import { validatePolicy } from "../../shared/policy/parse.ts";
import { GatewayRefusal } from "../http/errors.ts";
import { checkModel, filteredModels } from "./request-rules.ts";

const compiled = compilePolicy(validatePolicy({ groups: { contractors: { models: ["claude-haiku-*"] }, platform: {} }, default: { models: [] } }, "test").policy);

test("the model check: allowed, refused with the model named, and a body without a model while models are restricted", () => {
  const contractor = compiled.access(["contractors"]);
  expect(checkModel("claude-haiku-4-5", contractor)).toBeUndefined();
  const refused = checkModel("claude-opus-4-1", contractor);
  expect(refused).toBeInstanceOf(GatewayRefusal);
  expect(refused).toMatchObject({ code: "model_not_allowed", status: 403, type: "permission_error" });
  expect(refused?.message).toContain('"claude-opus-4-1"');
  expect(checkModel(undefined, contractor)?.code).toBe("bad_input");
  // a group without `models` allows every model, even with no model named
  expect(checkModel(undefined, compiled.access(["platform", "contractors"]))).toBeUndefined();
  expect(checkModel("claude-haiku-4-5", compiled.access([]))?.message).toContain("may use no model");
});

test("the model list: filtered for the person; errors pass; a 2xx that is not a list is refused, never passed on", async () => {
  const page = { data: [{ id: "claude-opus-4-1" }, { id: "claude-haiku-4-5" }], has_more: false, first_id: "claude-opus-4-1", last_id: "claude-haiku-4-5" };
  const filtered = await filteredModels(Response.json(page), compiled.access(["contractors"]));
  expect(await filtered.json()).toEqual({ data: [{ id: "claude-haiku-4-5" }], has_more: false, first_id: "claude-haiku-4-5", last_id: "claude-haiku-4-5" });
  const error = new Response("{}", { status: 529 });
  expect(await filteredModels(error, compiled.access(["contractors"]))).toBe(error);
  expect(filteredModels(new Response("not json"), compiled.access(["contractors"]))).rejects.toMatchObject({ code: "upstream_failed" });
  // every model: the answer as it is
  const all = Response.json(page);
  expect(await filteredModels(all, compiled.access(["platform"]))).toBe(all);
});
