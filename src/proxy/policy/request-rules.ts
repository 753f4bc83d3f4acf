/**
 * The tenant policy on the request path (docs/policy.md): what a person gets (one cached
 * resolution per group set), the model check before forwarding, the person's policy budgets and
 * limits in the shapes the state store checks next to the stored ones, and the filtered
 * `GET /v1/models` answer. The request path (http/request-path.ts) says when each runs.
 */
import { filterModelList, modelRefusal } from "../../shared/policy/models.ts";
import type { Access } from "../../shared/policy/resolve.ts";
import { GatewayRefusal } from "../http/errors.ts";
import type { Budget } from "../model/budgets.ts";
import type { Person } from "../model/person.ts";
import type { RateLimit } from "../model/rate-windows.ts";
import { policyBudgets, policyLimits } from "./enforcement.ts";
import type { PolicySource } from "./source.ts";

/** The policy's part for one person and request: taken once, so a reload mid-request changes nothing. */
export interface PersonRules {
  access: Access;
  budgets: Budget[];
  limits: RateLimit[];
}

export function rulesFor(source: PolicySource, person: Person): PersonRules {
  const access = source.current().compiled.access(person.groups);
  return {
    access,
    budgets: access.budgets.length > 0 ? policyBudgets(person.tenant, person, access).map((b) => b.budget) : [],
    limits: access.limits.length > 0 ? policyLimits(person.tenant, person, access) : [],
  };
}

/** Why this request may not go on: its model is outside the person's set (403), or it names none the gateway can check (400). */
export function checkModel(model: string | undefined, access: Access): GatewayRefusal | undefined {
  if (access.everyModelFrom.length > 0) return undefined;
  if (model === undefined) return new GatewayRefusal("bad_input", "the request body must be JSON with a string `model`: this gateway checks the model against the tenant's policy before forwarding");
  if (access.mayUse(model)) return undefined;
  return new GatewayRefusal("model_not_allowed", modelRefusal(model, access).message);
}

/** A model list larger than this is not a model list. */
const MAX_MODEL_LIST_BYTES = 1 << 20;

/**
 * The upstream's `GET /v1/models` answer with only the person's models. Errors (non-2xx) pass as
 * they are: they list nothing. A 2xx answer that is not a model list is 502, never passed unfiltered.
 */
export async function filteredModels(response: Response, access: Access): Promise<Response> {
  if (access.everyModelFrom.length > 0 || response.status < 200 || response.status > 299) return response;
  const text = await readBounded(response, MAX_MODEL_LIST_BYTES);
  let parsed: unknown;
  try {
    parsed = text === undefined ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const filtered = filterModelList(parsed, (id) => access.mayUse(id));
  if (!filtered.ok) throw new GatewayRefusal("upstream_failed", `the Anthropic API's model list could not be read (${text === undefined ? "larger than 1 MiB" : filtered.reason}), so it is not passed on unfiltered`);
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  return new Response(JSON.stringify(filtered.body), { status: response.status, headers });
}

async function readBounded(response: Response, limit: number): Promise<string | undefined> {
  const buffer = await response.arrayBuffer();
  return buffer.byteLength > limit ? undefined : new TextDecoder().decode(buffer);
}
