/**
 * The gateway's request routing: which Host values are accepted. The allowlist of the Anthropic
 * API's methods and paths is shared with the CLI's keep-fresh forwarder: src/shared/api-routes.ts.
 */
export { decideRoute, upstreamPath, type ApiRoute } from "../../shared/api-routes.ts";

const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOST_NAME = new RegExp(`^(?=.{1,253}(?::|$))${LABEL}(?:\\.${LABEL})*(?::(\\d{1,5}))?$`);
const HOST_IPV6 = /^\[[0-9A-Fa-f:.]{2,45}\](?::(\d{1,5}))?$/;

/**
 * A Host (or X-Forwarded-Host) value checked as `hostname[:port]` or `[ipv6][:port]`, lower-cased;
 * `null` when it is anything else (odd characters, a port that is not 1-65535, userinfo, a path).
 */
export function validHost(value: string | null | undefined): string | null {
  if (!value) return null;
  const match = HOST_NAME.exec(value) ?? HOST_IPV6.exec(value);
  if (!match) return null;
  const port = match[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return null;
  return value.toLowerCase();
}
