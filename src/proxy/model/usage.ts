/** What a request used, as the ledger keeps it (one record per request) and reports it. */

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheCreation5mInputTokens: number;
  cacheCreation1hInputTokens: number;
  cacheReadInputTokens: number;
  webSearchRequests: number;
}

export interface UsageRecord extends TokenCounts {
  /** The gateway's request id: the ledger keeps one record per id (a retried write is ignored). */
  requestId: string;
  upstreamRequestId?: string;
  /** The pool member that served (its configured name); records written before pools count under "". */
  upstream?: string;
  time: number;
  tenant: string;
  sub: string;
  /** The person's username and email as the IdP gave them, when known (the console's people table names people by them). */
  username?: string;
  email?: string;
  displayName: string;
  groups: readonly string[];
  model: string;
  /** null: the model had no price; the tokens still count. */
  costMicroUsd: number | null;
}

export type UsageDimension = "user" | "group" | "model" | "day" | "upstream";

export interface UsageQuery {
  tenant: string;
  /** Inclusive UTC days, YYYY-MM-DD. */
  since: string;
  until: string;
  by: UsageDimension;
  /** Only this user's records (a sub). */
  sub?: string;
}

export interface UsageRow extends TokenCounts {
  /** The sub, group, model or day. A record without groups counts under group "". */
  key: string;
  /** For by=user: the latest display name seen. */
  displayName?: string;
  requests: number;
  costMicroUsd: number;
  /** Requests whose cost is unknown (model not priced): excluded from costMicroUsd. */
  unpricedRequests: number;
}

/** The tokens a budget in tokens and a tokens-per-minute window count. */
export const tokensOf = (r: Pick<UsageRecord, "inputTokens" | "outputTokens" | "cacheCreationInputTokens" | "cacheReadInputTokens">) =>
  r.inputTokens + r.outputTokens + r.cacheCreationInputTokens + r.cacheReadInputTokens;
