/** The audit log through the admin API: who is acting (for every change), and the list (GET ?since=YYYY-MM-DD or an ISO time). */
import { adminKeyActor, type AuditInput } from "../audit/audit-log.ts";
import { iso, jsonAnswer } from "../http/answers.ts";
import { BadInput } from "../http/errors.ts";
import type { TenantExchange } from "../http/exchange.ts";
import type { AuditEntry } from "../model/audit.ts";
import type { Subject } from "../model/subjects.ts";
import type { AuditRowJson } from "../../shared/gateway-api.ts";
import { ADMIN_KEY_CALLER } from "./auth.ts";

/** Who makes a change and in which request, as the audit row names them. */
export type Acting = Pick<AuditInput, "actor" | "actorSub" | "requestId">;

/** The caller as the audit names them: a person (display name and sub), or the admin key's digest; and the request. */
export function actorOf(ex: TenantExchange): Acting {
  const request = { requestId: ex.requestId };
  if (ex.caller === ADMIN_KEY_CALLER && ex.ctx.adminKey !== undefined) return { actor: adminKeyActor(ex.ctx.adminKey), ...request };
  if (ex.person) return { actor: ex.person.displayName, actorSub: ex.person.sub, ...request };
  return { actor: ex.caller ?? "unknown", ...request };
}

export const targetOf = (s: Subject): string => (s.kind === "tenant" ? "tenant" : `${s.kind} ${s.id}`);

/** Records a change made by this request's caller (never fails the request: see AuditLog). */
export function recordChange(ex: TenantExchange, change: { action: string; target: string; old: unknown; new: unknown }): Promise<boolean> {
  return ex.ctx.audit.record({ tenant: ex.runtime.config.slug, ...actorOf(ex), ...change });
}

export function auditRowJson(e: AuditEntry): AuditRowJson {
  return { time: iso(e.time), actor: e.actor, ...(e.actorSub !== undefined ? { actor_sub: e.actorSub } : {}), action: e.action, target: e.target, old: e.old ?? null, new: e.new ?? null, ...(e.requestId !== undefined ? { request_id: e.requestId } : {}) };
}

function sinceOf(value: string | null): number | undefined {
  if (value === null || value === "") return undefined;
  const t = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : Date.parse(value);
  if (Number.isNaN(t)) throw new BadInput("since is a day (YYYY-MM-DD, UTC) or an ISO 8601 time");
  return t;
}

export async function listAudit(ex: TenantExchange, query: URLSearchParams): Promise<Response> {
  const since = sinceOf(query.get("since"));
  const rows = await ex.ctx.state.listAudit({ tenant: ex.runtime.config.slug, ...(since !== undefined ? { since } : {}) });
  return jsonAnswer(rows.map(auditRowJson));
}
