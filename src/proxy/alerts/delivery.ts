/**
 * Delivers spooled alerts to the webhook, at least once: each POST is bounded (deadline, no
 * redirects, the answer read under a size cap and dropped); a 2xx delivers; 408, 425, 429, 5xx,
 * a timeout or a network error is retried with exponential backoff and jitter (honouring a
 * short Retry-After) until `maxAgeMs` after detection; any other 4xx is the receiver saying no
 * (a wrong URL or a payload it refuses): not retried. Delivered or given up, the alert leaves
 * the spool. Log lines name the webhook's origin only, never the URL (it can hold a token) or
 * the secret.
 */
import { readCapped } from "../../shared/read-capped.ts";
import type { AlertsConfig } from "./config.ts";
import { webhookRequest } from "./payload.ts";
import type { AlertSpool } from "./spool.ts";
import type { SpooledAlert } from "./types.ts";

export type DeliveryResult = "delivered" | "retry" | "rejected" | "expired";

export interface DeliveryDeps {
  fetch(url: string, init: RequestInit): Promise<Response>;
  spool: Pick<AlertSpool, "remove" | "touch">;
  config: Pick<AlertsConfig, "webhook" | "webhookOrigin" | "secret" | "format">;
  log: (level: "info" | "warn" | "error", message: string, fields: Record<string, unknown>) => void;
  /** A counter by result (a prom-client Counter with the label `result` fits). */
  deliveries: { inc(labels: { result: DeliveryResult }): void };
  now?: () => number;
  random?: () => number;
  /** First retry after about this long, doubling each time. Default 1 s. */
  baseDelayMs?: number;
  /** Longest wait between attempts. Default 5 min. */
  maxDelayMs?: number;
  /** Give up this long after detection. Default 24 h. */
  maxAgeMs?: number;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
}

const RETRYABLE = new Set([408, 425, 429]);
const MAX_ANSWER_BYTES = 16 * 1024;

/** The wait before attempt `attempt + 1` (attempt counts from 1): base × 2^(attempt-1), ±20 % jitter, capped; a Retry-After up to the cap wins. */
export function backoffDelay(attempt: number, options: { baseDelayMs: number; maxDelayMs: number; random: () => number; retryAfterMs?: number }): number {
  const exponential = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  const jittered = exponential * (0.8 + 0.4 * options.random());
  const wait = options.retryAfterMs !== undefined ? Math.max(jittered, Math.min(options.retryAfterMs, options.maxDelayMs)) : jittered;
  return Math.round(Math.min(wait, options.maxDelayMs));
}

function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export class AlertDelivery {
  private readonly pending = new Map<string, { alert: SpooledAlert; timer?: ReturnType<typeof setTimeout>; running?: Promise<void> }>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly deps: DeliveryDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Starts delivering an alert that is already in the spool. */
  enqueue(alert: SpooledAlert): void {
    if (this.closed || this.pending.has(alert.id)) return;
    this.pending.set(alert.id, { alert });
    this.attempt(alert.id);
  }

  /** How many alerts are not delivered yet. */
  get size(): number {
    return this.pending.size;
  }

  /** Resolves when every alert is delivered or given up (tests, shutdown). */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying (the spool keeps what is left for the next start). */
  close(): void {
    this.closed = true;
    for (const entry of this.pending.values()) if (entry.timer) clearTimeout(entry.timer);
  }

  private attempt(id: string): void {
    const entry = this.pending.get(id);
    if (!entry || this.closed) return;
    entry.timer = undefined;
    entry.running = this.send(entry.alert).then((outcome) => this.settle(id, outcome));
  }

  private async settle(id: string, outcome: { result: DeliveryResult; detail: string; retryAfterMs?: number }): Promise<void> {
    const entry = this.pending.get(id);
    if (!entry) return;
    const alert = entry.alert;
    const fields = { alert_id: alert.id, webhook: this.deps.config.webhookOrigin, attempts: alert.attempts, threshold: alert.threshold, tenant: alert.observation.tenant };
    let result = outcome.result;
    if (result === "retry" && this.now() - alert.detectedAt >= (this.deps.maxAgeMs ?? 24 * 3_600_000)) result = "expired";
    if (result === "retry") {
      if (this.closed) return;
      if (alert.attempts === 1) this.deps.log("warn", `budget alert ${alert.id} not delivered to ${this.deps.config.webhookOrigin} (${outcome.detail}); retrying`, fields);
      const wait = backoffDelay(alert.attempts, {
        baseDelayMs: this.deps.baseDelayMs ?? 1000,
        maxDelayMs: this.deps.maxDelayMs ?? 300_000,
        random: this.deps.random ?? Math.random,
        ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
      });
      entry.timer = setTimeout(() => this.attempt(id), wait);
      entry.timer.unref?.();
      return;
    }
    this.deps.deliveries.inc({ result });
    if (result === "delivered") this.deps.log("info", `budget alert ${alert.id} delivered to ${this.deps.config.webhookOrigin}`, fields);
    else this.deps.log("error", `budget alert ${alert.id} dropped: ${result === "rejected" ? `${this.deps.config.webhookOrigin} refused it (${outcome.detail})` : `not delivered within its retry window (${outcome.detail})`}`, fields);
    try {
      await this.deps.spool.remove(id);
    } catch (e) {
      this.deps.log("warn", `could not remove alert ${id} from the spool (${(e as Error).message}); it may be sent again after a restart`, fields);
    }
    this.pending.delete(id);
    if (this.pending.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async send(alert: SpooledAlert): Promise<{ result: DeliveryResult; detail: string; retryAfterMs?: number }> {
    alert.attempts++;
    await this.deps.spool.touch(alert.id);
    const { body, headers } = webhookRequest(alert, this.deps.config.format, this.deps.config.secret);
    const signal = AbortSignal.timeout(this.deps.timeoutMs ?? 10_000);
    try {
      const response = await this.deps.fetch(this.deps.config.webhook, { method: "POST", headers, body, redirect: "error", signal });
      if (response.body) await readCapped(response.body, MAX_ANSWER_BYTES, { tooLarge: () => new Error("answer too large"), signal }).catch(() => undefined);
      if (response.ok) return { result: "delivered", detail: `HTTP ${response.status}` };
      const detail = `HTTP ${response.status}`;
      if (response.status >= 500 || RETRYABLE.has(response.status)) {
        const after = retryAfterMs(response.headers.get("retry-after"));
        return { result: "retry", detail, ...(after !== undefined ? { retryAfterMs: after } : {}) };
      }
      return { result: "rejected", detail };
    } catch (e) {
      const error = e as Error;
      return { result: "retry", detail: error.name === "TimeoutError" || signal.aborted ? "no answer in time" : error.message };
    }
  }
}
