/**
 * The two places a person meets their model set at the gateway:
 *   - a request for a model outside it is refused before forwarding (403 `permission_error`
 *     naming the model and what they may use): `modelRefusal` gives the status, type and text,
 *     the HTTP layer shapes it like every other Anthropic error;
 *   - `GET /v1/models` lists only what they may use: `filterModelList` filters the upstream's
 *     page and keeps its paging fields coherent.
 */
import type { Access } from "./resolve.ts";
import { sourceText } from "./types.ts";

export interface ModelRefusal {
  status: 403;
  type: "permission_error";
  message: string;
  /** The person's patterns (`["*"]` never occurs: such a person is never refused). */
  allowed: string[];
}

/** The model id as the client sent it, made safe to echo: printable ASCII, at most 100 characters. */
export function shownModel(model: string): string {
  const printable = model.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > 100 ? `${printable.slice(0, 97)}...` : printable;
}

/** Why this person may not use `model`, in the words Claude Code shows them. */
export function modelRefusal(model: string, access: Access): ModelRefusal {
  const allowed = access.allowedPatterns();
  const who = access.fromDefault ? "people in none of the policy's groups" : `your group${access.groups.length === 1 ? "" : "s"} (${access.groups.join(", ")})`;
  const may = allowed.length === 0 ? `${who} may use no model through this gateway; ask an administrator for access` : `${who} may use: ${allowed.join(", ")}`;
  return { status: 403, type: "permission_error", message: `The model "${shownModel(model)}" is not available to you: ${may}.`, allowed };
}

/** For `admin policy explain`: each pattern with the rule it comes from. */
export function modelSources(access: Access): { pattern: string; source: string }[] {
  if (access.everyModelFrom.length > 0) return access.everyModelFrom.map((s) => ({ pattern: "*", source: sourceText(s) }));
  const everything = access.models.find((m) => m.pattern === "*");
  if (everything) return [{ pattern: "*", source: sourceText(everything.source) }]; // the other patterns add nothing
  return access.models.map((m) => ({ pattern: m.pattern, source: sourceText(m.source) }));
}

export type ModelListFilter =
  | { ok: true; body: Record<string, unknown>; removed: number }
  /** The upstream's answer is not a model list: the gateway answers 502 rather than pass it unfiltered. */
  | { ok: false; reason: string };

interface ModelEntry {
  id: string;
}

const isEntry = (item: unknown): item is ModelEntry => item !== null && typeof item === "object" && typeof (item as { id?: unknown }).id === "string";

/**
 * The upstream's `GET /v1/models` page with only the models the person may use. Other fields are
 * kept. `first_id` and `last_id` name the first and last model left, so `after_id=<last_id>` and
 * `before_id=<first_id>` page on from what the person saw (the models filtered out in between are
 * filtered out again); `has_more` is the upstream's, since more may follow. A page filtered empty
 * keeps the upstream's cursors while more follow, so a client can still page past it (null otherwise).
 */
export function filterModelList(body: unknown, mayUse: (model: string) => boolean): ModelListFilter {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return { ok: false, reason: "the model list is not a JSON object" };
  const page = body as Record<string, unknown>;
  if (!Array.isArray(page.data)) return { ok: false, reason: "the model list has no `data` array" };
  const kept = page.data.filter((item): item is ModelEntry => isEntry(item) && mayUse(item.id));
  const out: Record<string, unknown> = { ...page, data: kept, has_more: page.has_more === true };
  if (kept.length > 0) {
    out.first_id = kept[0]!.id;
    out.last_id = kept[kept.length - 1]!.id;
  } else if (out.has_more) {
    out.first_id = typeof page.first_id === "string" ? page.first_id : null;
    out.last_id = typeof page.last_id === "string" ? page.last_id : null;
  } else {
    out.first_id = null;
    out.last_id = null;
  }
  return { ok: true, body: out, removed: page.data.length - kept.length };
}
