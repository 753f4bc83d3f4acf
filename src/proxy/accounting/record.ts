/** The usage read from a response, priced and attributed: one ledger record, one log line's figures. */
import type { Person } from "../model/person.ts";
import type { UsageRecord } from "../model/usage.ts";
import { costOf, type Cost, type PriceTable } from "./pricing.ts";
import type { Usage } from "./usage.ts";

/** Whether the response reported any use at all (an error before the model ran reports none). */
export const hasUsage = (usage: Usage) => usage.inputTokens !== undefined || usage.outputTokens !== undefined || usage.cacheReadInputTokens !== undefined || usage.cacheCreationInputTokens !== undefined;

/** `upstream`: the pool member that served, when known. */
export function usageRecord(requestId: string, upstreamRequestId: string | null, time: number, person: Person, usage: Usage, requestedModel: string | undefined, table: PriceTable, upstream?: string): { record: UsageRecord; cost: Cost } {
  const model = usage.model ?? requestedModel ?? "unknown";
  const cost = costOf(usage, model, table);
  // one literal, the optional fields set after: no spread of partial objects (one record per request)
  const record: UsageRecord = {
    requestId,
    time,
    tenant: person.tenant,
    sub: person.sub,
    displayName: person.displayName,
    groups: person.groups,
    model,
    costMicroUsd: cost.microUsd,
    inputTokens: usage.inputTokens ?? 0,
    outputTokens: usage.outputTokens ?? 0,
    cacheCreationInputTokens: usage.cacheCreationInputTokens ?? 0,
    cacheCreation5mInputTokens: usage.cacheCreation5mInputTokens ?? 0,
    cacheCreation1hInputTokens: usage.cacheCreation1hInputTokens ?? 0,
    cacheReadInputTokens: usage.cacheReadInputTokens ?? 0,
    webSearchRequests: usage.serverToolUse?.web_search_requests ?? 0,
  };
  if (upstreamRequestId) record.upstreamRequestId = upstreamRequestId;
  if (upstream !== undefined) record.upstream = upstream;
  if (person.username !== undefined) record.username = person.username;
  if (person.email !== undefined) record.email = person.email;
  return { cost, record };
}
