/** GET usage: the tenant's usage report, by user, group, model, day or upstream (the pool member that served), in JSON or CSV (`format`, or `Accept: text/csv`). */
import { jsonAnswer, usageCsv, usageJson } from "../http/answers.ts";
import { BadInput } from "../http/errors.ts";
import type { TenantExchange } from "../http/exchange.ts";
import { dayKey, monthKey } from "../model/periods.ts";
import type { UsageDimension } from "../model/usage.ts";
import { DAY } from "./input.ts";

export async function usageReport(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  const q = (name: string) => query.get(name) ?? undefined;
  const now = Date.now();
  const since = q("since") ?? `${monthKey(now)}-01`;
  const until = q("until") ?? dayKey(now);
  if (!DAY.test(since) || !DAY.test(until)) throw new BadInput("since and until are days, YYYY-MM-DD");
  const dimension = (q("by") ?? "user") as UsageDimension; // checked by the store (state/checks.ts)
  const rows = usageJson(dimension, await ex.ctx.state.usageReport({ tenant: ex.runtime.config.slug, since, until, by: dimension }));
  const format = q("format");
  const csv = format === "csv" || (format === undefined && (ex.request.headers.get("accept") ?? "").includes("text/csv"));
  if (format !== undefined && format !== "csv" && format !== "json") throw new BadInput("format is json or csv");
  return csv ? new Response(usageCsv(dimension, rows), { headers: { "content-type": "text/csv; charset=utf-8", "cache-control": "no-store" } }) : jsonAnswer(rows);
}

