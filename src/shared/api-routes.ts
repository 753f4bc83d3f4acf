/**
 * What reaches the Anthropic API through the tenant gateway (src/proxy) and through the CLI's
 * keep-fresh forwarder (`exec --keep-fresh`), decided before any credential is read. One list, so
 * the forwarder never accepts a path the gateway would refuse.
 *
 * Only an explicit allowlist of method + path goes upstream with the tenant's key; the upstream
 * path is rebuilt from the matched route, never copied from the client, so nothing the client
 * sends can reach a path outside the list or outside the upstream's base path. Anything ambiguous
 * (percent-encoding, empty segments, odd characters) is refused rather than interpreted: Bun has
 * already resolved `.`/`..` segments (also `%2e`) and backslashes in `request.url` when we see it,
 * and the allowlist is matched on that resolved path, which is exactly the path forwarded.
 *
 * Message Batches and Files (`/v1/messages/batches…`, `/v1/files…`) act on the tenant's whole
 * workspace, so every user could read every other user's data: they stay closed until they are
 * scoped per user.
 */
import { RESOURCE_PATH } from "./tenant-discovery.ts";

/** Route labels for metrics and logs (bounded cardinality). */
export type ApiRoute = "messages" | "count_tokens" | "models";

export type RouteReject = "ambiguous_path" | "not_allowed" | "bad_model_id" | "bad_query";

export type RouteDecision =
  | { kind: "forward"; route: ApiRoute; upstreamPath: string; search: string }
  /** Claude Code's start-up `HEAD`: answered locally, nothing forwarded, no credentials needed. */
  | { kind: "probe" }
  | { kind: "reject"; status: 400 | 404; reason: RouteReject; message: string };

/** Unreserved characters plus `:`; no `%` (no encoding to decode twice), no `\`, `#`, `;`. */
const PATH_CHARS = /^\/[A-Za-z0-9._~:/-]*$/;
/** Model ids as the API names them (`claude-sonnet-4-5-20250929`, `claude-3-7-sonnet-latest`). */
export const MODEL_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const QUERY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_QUERY = 2048;
const MAX_QUERY_PARAMS = 20;

export const ALLOWED_DESCRIPTION = `POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models and GET /v1/models/{id} under ${RESOURCE_PATH}/v1`;

/**
 * Maps the proxy path to the upstream path. Claude Code joins ANTHROPIC_BASE_URL and `/v1/...`
 * by concatenation, so the seed's base `.../anthropic/v1` arrives as `/anthropic/v1/v1/messages`;
 * a base without `/v1` arrives as `/anthropic/v1/messages`. Both reach upstream `/v1/messages`.
 */
export function upstreamPath(path: string): string {
  const rest = path.slice(RESOURCE_PATH.length) || "/";
  return rest.startsWith("/v1/v1/") || rest === "/v1/v1" ? rest.slice(3) : rest;
}

function reject(status: 400 | 404, reason: RouteReject, message: string): RouteDecision {
  return { kind: "reject", status, reason, message };
}

const notAllowed = () => reject(404, "not_allowed", `not found: the tenant proxy forwards only ${ALLOWED_DESCRIPTION}`);

/** Re-serialises the query so nothing in it can be read as a path; `null` when it is refused. */
export function safeQuery(search: string): string | null {
  if (search === "" || search === "?") return "";
  if (search.length > MAX_QUERY) return null;
  const params = new URLSearchParams(search);
  let count = 0;
  for (const name of params.keys()) {
    if (!QUERY_NAME.test(name) || ++count > MAX_QUERY_PARAMS) return null;
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/**
 * Decides what to do with a request to `path` (the part of `request.url` before `?`, under
 * {@link RESOURCE_PATH}) and its `search` (from `?`, or "").
 */
export function decideRoute(method: string, path: string, search: string): RouteDecision {
  if (!PATH_CHARS.test(path)) return reject(404, "ambiguous_path", "not found: the path has encoded or unexpected characters");
  if (path !== RESOURCE_PATH && !path.startsWith(RESOURCE_PATH + "/")) return notAllowed();
  if (method === "HEAD") return { kind: "probe" };
  if (path === RESOURCE_PATH) return notAllowed();
  const segments = path.slice(RESOURCE_PATH.length + 1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) return reject(404, "ambiguous_path", "not found: the path has empty or dot segments");
  // `/anthropic/v1/v1/...` (base URL ending in /v1) and `/anthropic/v1/...` are the same API.
  const api = segments[0] === "v1" && segments[1] === "v1" ? segments.slice(1) : segments;
  if (api[0] !== "v1") return notAllowed();
  const [, first, second, ...more] = api;
  let route: ApiRoute | undefined;
  let upstream: string | undefined;
  if (method === "POST" && first === "messages" && second === undefined) [route, upstream] = ["messages", "/v1/messages"];
  else if (method === "POST" && first === "messages" && second === "count_tokens" && more.length === 0) [route, upstream] = ["count_tokens", "/v1/messages/count_tokens"];
  else if (method === "GET" && first === "models" && second === undefined) [route, upstream] = ["models", "/v1/models"];
  else if (method === "GET" && first === "models" && second !== undefined && more.length === 0) {
    if (!MODEL_ID.test(second)) return reject(404, "bad_model_id", "not found: not a model id");
    [route, upstream] = ["models", `/v1/models/${second}`];
  }
  if (!route || !upstream) return notAllowed();
  const query = safeQuery(search);
  if (query === null) return reject(400, "bad_query", "the query string has parameters the Anthropic API does not take (names: letters, digits, _ . -; at most 20, 2 KB)");
  return { kind: "forward", route, upstreamPath: upstream, search: query };
}
