/**
 * The audit log's use case (issue 18 §3): who changed what, recorded in the state store (every
 * replica writes to the same one). `record` for a change made through the admin API or CLI, or
 * by the directory; `recordReload` for a policy reload, written once per new hash across
 * replicas (the replica that wins the claim writes it): the policy wiring calls it from its
 * source's onChange. A row the store cannot take never undoes the change: it is logged and counted.
 */
import { createHash } from "node:crypto";
import type { ClaimOnce } from "../coordination/claim-once.ts";
import { DAY_MS, DEFAULT_AUDIT_RETENTION_DAYS, type AuditEntry } from "../model/audit.ts";
import type { GatewayState } from "../state/types.ts";

/** The actor of a change made with the admin key: never the key, a short digest that tells keys apart. */
export const adminKeyActor = (key: string): string => `admin key ${createHash("sha256").update(key).digest("hex").slice(0, 8)}`;

/** A reload's claim is kept this long: a replica that reloads the same file later writes no second row. */
const RELOAD_CLAIM_MS = 400 * DAY_MS;

export type AuditInput = Omit<AuditEntry, "time"> & { time?: number };

export interface AuditLogDeps {
  state: Pick<GatewayState, "appendAudit"> & ClaimOnce;
  /** This process, for the reload claims. */
  claimant: string;
  retentionMs?: number;
  log: (level: "warn" | "error", message: string, fields: Record<string, unknown>) => void;
  failures: { inc(labels: { tenant: string; action: string }): void };
  now?: () => number;
}

export class AuditLog {
  constructor(private readonly deps: AuditLogDeps) {}

  /** Records one change; true when the store has it (never throws: the change is made either way). */
  async record(input: AuditInput): Promise<boolean> {
    const entry: AuditEntry = { ...input, time: input.time ?? (this.deps.now ?? Date.now)() };
    try {
      await this.deps.state.appendAudit(entry, { retentionMs: this.deps.retentionMs ?? DEFAULT_AUDIT_RETENTION_DAYS * DAY_MS });
      return true;
    } catch (e) {
      this.deps.failures.inc({ tenant: entry.tenant, action: entry.action });
      this.deps.log("error", `audit row not written (${(e as Error).message}): ${entry.action} on ${entry.target} by ${entry.actor}`, { tenant: entry.tenant, action: entry.action, request_id: entry.requestId });
      return false;
    }
  }

  /**
   * A policy reload (or the first load): one row per new hash across replicas. `source` says
   * where it came from (the file). True when this replica wrote it.
   */
  async recordReload(tenant: string, change: { hash: string; previousHash?: string; source: string }): Promise<boolean> {
    let won: boolean;
    try {
      won = await this.deps.state.claimOnce(`policy-reload\n${tenant}\n${change.hash}`, this.deps.claimant, RELOAD_CLAIM_MS);
    } catch (e) {
      this.deps.log("warn", `policy reload of ${tenant} not audited: the state store could not say which replica records it (${(e as Error).message})`, { tenant });
      return false;
    }
    if (!won) return false;
    return this.record({ tenant, actor: "policy", action: "policy.reload", target: change.source, old: change.previousHash ? { hash: change.previousHash } : null, new: { hash: change.hash } });
  }
}
