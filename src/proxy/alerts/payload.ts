/**
 * What a webhook receives. `json`: the alert as a JSON object, signed like GitHub's webhooks:
 * `X-Agent-Runner-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the secret>`;
 * the receiver recomputes it over the raw body and compares in constant time, and de-duplicates
 * on `id` (delivery is at least once). `slack`: `{"text": ...}` for an incoming-webhook URL.
 */
import { createHmac } from "node:crypto";
import type { AlertFormat, BudgetAlert } from "./types.ts";

export const SIGNATURE_HEADER = "x-agent-runner-signature";
export const ALERT_ID_HEADER = "x-agent-runner-alert-id";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
/** Micro-dollars to dollars, exact to the micro-dollar. */
const dollars = (micro: number) => Math.round(micro) / 1e6;

export function jsonPayload(alert: BudgetAlert): Record<string, unknown> {
  const o = alert.observation;
  const amount = o.budget.unit === "usd" ? { usd: dollars(o.budget.limit) } : { tokens: o.budget.limit };
  const who = o.scope === "user" ? { user: o.subjectName, sub: o.subject } : o.scope === "group" ? { group: o.subject } : {};
  return {
    type: "budget.threshold",
    id: alert.id,
    tenant: o.tenant,
    ...who,
    budget: { scope: o.scope, name: o.budget.name, source: o.budget.source, period: o.budget.period, ...amount, soft: o.budget.soft },
    threshold: alert.threshold,
    spent: o.budget.unit === "usd" ? dollars(o.spent) : o.spent,
    ...(o.refusing ? { refusing: true } : {}),
    resets_at: iso(o.resetsAt),
    detected_at: iso(alert.detectedAt),
  };
}

/** Slack's mrkdwn needs &, < and > escaped; names come from the directory. */
const slackEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function slackText(alert: BudgetAlert): string {
  const o = alert.observation;
  const amount = (n: number) => (o.budget.unit === "usd" ? `$${dollars(n).toFixed(2)}` : `${Math.round(n).toLocaleString("en")} tokens`);
  const who = o.scope === "user" ? slackEscape(o.subjectName) : o.scope === "group" ? `group ${slackEscape(o.subject)}` : "the whole tenant";
  const kind = `${o.budget.soft ? "soft " : ""}${o.budget.period === "day" ? "daily" : "monthly"}`;
  const reset = iso(o.resetsAt).replace("T", " ").replace(/:00Z$/, " UTC").replace("Z", " UTC");
  const budget = `the ${kind} ${amount(o.budget.limit)} budget (${slackEscape(o.budget.name)})`;
  if (o.refusing) return `Budget alert (${slackEscape(o.tenant)}): ${who}'s requests are refused by ${budget}: ${amount(o.spent)} spent, the next request does not fit; it resets ${reset}.`;
  return `Budget alert (${slackEscape(o.tenant)}): ${who} has used ${Math.round(alert.threshold * 100)}% of ${budget}: ${amount(o.spent)} spent, resets ${reset}.`;
}

export function signature(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** The request body and headers for one alert. */
export function webhookRequest(alert: BudgetAlert, format: AlertFormat, secret: string | undefined): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(format === "slack" ? { text: slackText(alert) } : jsonPayload(alert));
  return {
    body,
    headers: {
      "content-type": "application/json",
      "user-agent": "agent-runner-gateway",
      [ALERT_ID_HEADER]: alert.id,
      ...(secret !== undefined ? { [SIGNATURE_HEADER]: signature(body, secret) } : {}),
    },
  };
}
