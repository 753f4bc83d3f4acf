/**
 * A tenant's `alerts` (issue 18 §4): `{"webhook": URL, "secretFile": PATH, "thresholds": [0.5,
 * 0.8, 1.0], "format": "json"|"slack"}`, or the single-tenant flags `--alerts-webhook URL
 * --alerts-secret-file F`. The secret is read from its file here (never from argv or the config
 * text) and never logged; the webhook URL is never logged whole either (a Slack incoming-webhook
 * URL is itself a credential): only its origin.
 */
import { checkEndpointUrl, EndpointPolicyError } from "../../shared/endpoint-policy.ts";
import { DEFAULT_THRESHOLDS } from "./thresholds.ts";
import type { AlertFormat } from "./types.ts";

export interface AlertsConfig {
  webhook: string;
  /** For log lines: the webhook's origin only. */
  webhookOrigin: string;
  /** The HMAC key; required for `json`, optional for `slack`. */
  secret?: string;
  thresholds: number[];
  format: AlertFormat;
}

export class AlertsConfigError extends Error {
  override readonly name = "AlertsConfigError";
  readonly code = "alerts_config";
}

const MIN_SECRET_BYTES = 16;

/** `readSecret(path)`: the file's text (the caller's file access). */
export function parseAlertsConfig(value: unknown, where: string, readSecret: (path: string) => string): AlertsConfig {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new AlertsConfigError(`${where} must be an object with "webhook"`);
  const { webhook, secretFile, thresholds, format, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new AlertsConfigError(`${where}.${unknown[0]} is not a field here (expected webhook, secretFile, thresholds or format)`);
  let url: URL;
  try {
    url = checkEndpointUrl(`${where}.webhook`, webhook);
  } catch (e) {
    if (e instanceof EndpointPolicyError) throw new AlertsConfigError(e.message);
    throw e;
  }
  const fmt = format ?? "json";
  if (fmt !== "json" && fmt !== "slack") throw new AlertsConfigError(`${where}.format must be "json" or "slack", got ${JSON.stringify(format)}`);
  let secret: string | undefined;
  if (secretFile !== undefined) {
    if (typeof secretFile !== "string" || secretFile === "") throw new AlertsConfigError(`${where}.secretFile must be the path of a file holding the signing secret`);
    try {
      secret = readSecret(secretFile).trim();
    } catch (e) {
      throw new AlertsConfigError(`${where}.secretFile: cannot read ${secretFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) throw new AlertsConfigError(`${where}.secretFile: the secret in ${secretFile} is shorter than ${MIN_SECRET_BYTES} bytes (make one with: openssl rand -hex 32)`);
  } else if (fmt === "json") {
    throw new AlertsConfigError(`${where}.secretFile is required with the json format: receivers check the X-Agent-Runner-Signature it keys`);
  }
  let levels = [...DEFAULT_THRESHOLDS];
  if (thresholds !== undefined) {
    if (!Array.isArray(thresholds) || thresholds.length === 0 || thresholds.length > 10 || !thresholds.every((t) => typeof t === "number" && t > 0 && t <= 10)) {
      throw new AlertsConfigError(`${where}.thresholds must be 1 to 10 fractions of the budget, each above 0 (1.0 = all of it; at most 10), got ${JSON.stringify(thresholds)}`);
    }
    levels = [...new Set(thresholds as number[])].sort((a, b) => a - b);
  }
  return { webhook: url.href, webhookOrigin: url.origin, ...(secret !== undefined ? { secret } : {}), thresholds: levels, format: fmt };
}
