/**
 * The audit log (issue 18 §3): every change made through the admin API or CLI (budget, limit,
 * revoke, restore), every policy reload and every revocation by the directory, with who made it,
 * the old and new values and the request id. Append-only: nothing in the API edits or deletes a
 * row; rows older than the retention are pruned by the store.
 */

/** Rows are kept this long by default (the issue: 400 days). */
export const DEFAULT_AUDIT_RETENTION_DAYS = 400;
export const DAY_MS = 86_400_000;

export interface AuditEntry {
  /** Epoch ms. */
  time: number;
  tenant: string;
  /** Who: a person's display name, `admin key <first 8 hex of sha256 of the key>`, `directory` or `policy`. */
  actor: string;
  /** The person's `sub`, when a person made the change. */
  actorSub?: string;
  /** What: `budget.set`, `budget.clear`, `limit.set`, `limit.clear`, `revoke`, `restore`, `policy.reload`, `directory.revoke`. */
  action: string;
  /** On what: `user carol@example.com`, `group eng`, `tenant`, `session <origin_jti>`, `policy`. */
  target: string;
  /** JSON values before and after (null: none). */
  old: unknown;
  new: unknown;
  /** The request that made it (none for a reload or a directory revocation). */
  requestId?: string;
}

export interface AuditQuery {
  tenant: string;
  /** Epoch ms, inclusive; default: everything kept. */
  since?: number;
  /** At most this many rows, oldest first (default 10,000). */
  limit?: number;
}

export const DEFAULT_AUDIT_LIMIT = 10_000;
