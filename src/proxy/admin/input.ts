/** What an admin sends (a JSON body, or the query of a GET or DELETE), checked; bad input is BadInput (400 `bad_input`). */
import { BadInput } from "../http/errors.ts";
import type { Period } from "../model/periods.ts";
import type { SeenPerson, UserKind } from "../model/person.ts";
import type { Subject } from "../model/subjects.ts";
import type { TenantExchange } from "../http/exchange.ts";
import { settingSubject, USER_KINDS, type UserTarget } from "./people.ts";

const MAX_ADMIN_BODY = 64 * 1024;
export const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A field of the body or the query. */
export type Field = (name: string) => unknown;

export const queryFields = (query: URLSearchParams): Field => (name) => query.get(name) ?? undefined;

export async function readJson(request: Request): Promise<Record<string, unknown>> {
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (length > MAX_ADMIN_BODY) throw new BadInput(`the body is over ${MAX_ADMIN_BODY} bytes`);
  const text = await request.text();
  if (text.length > MAX_ADMIN_BODY) throw new BadInput(`the body is over ${MAX_ADMIN_BODY} bytes`);
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new BadInput("the body must be a JSON object");
}

/** Exactly one of `user`, `group`, `tenant`. */
export function subjectFrom(get: Field): Subject {
  const given = (["user", "group", "tenant"] as const).filter((k) => get(k) !== undefined && get(k) !== null && get(k) !== false);
  if (given.length !== 1) throw new BadInput("name exactly one of user (username, email or sub), group, or tenant");
  const kind = given[0] as Subject["kind"];
  if (kind === "tenant") return { kind, id: "*" };
  const id = get(kind);
  if (typeof id !== "string" || id === "" || id.length > 256) throw new BadInput(`${kind} must be a non-empty name`);
  return { kind, id };
}

export function periodFrom(v: unknown): Period {
  if (v !== "day" && v !== "month") throw new BadInput("period is day or month");
  return v;
}

/** `kind` (sub, username or email): what a `user` value is, when the admin says; absent: any of them. */
export function userKindFrom(get: Field): UserKind | undefined {
  const kind = get("kind");
  if (kind === undefined || kind === null) return undefined;
  if (typeof kind !== "string" || !(USER_KINDS as readonly string[]).includes(kind)) throw new BadInput("kind is sub, username or email");
  return kind as UserKind;
}

/** Exactly one of `user` (with its `kind`, if any) or `session` (an origin_jti). */
export function revocationTarget(get: Field): { session: string } | { user: UserTarget } {
  const user = get("user");
  const session = get("session");
  if ((user === undefined) === (session === undefined)) throw new BadInput("name exactly one of user (username, email or sub) or session (an origin_jti)");
  const value = user ?? session;
  if (typeof value !== "string" || value === "" || value.length > 256) throw new BadInput("user or session must be a non-empty string");
  const kind = userKindFrom(get);
  if (session !== undefined) {
    if (kind !== undefined) throw new BadInput("kind goes with user, not session");
    return { session: value };
  }
  return { user: { value, ...(kind ? { kind } : {}) } };
}

/** A budget's or limit's subject from the input; a user resolved as people.ts says, with whom it matches. */
export async function settingSubjectFrom(ex: TenantExchange, get: Field): Promise<{ subject: Subject; people?: SeenPerson[] }> {
  const subject = subjectFrom(get);
  const kind = userKindFrom(get);
  if (subject.kind !== "user") {
    if (kind !== undefined) throw new BadInput("kind goes with user");
    return { subject };
  }
  const { id, people } = await settingSubject(ex.ctx, ex.runtime.config.slug, { value: subject.id, ...(kind ? { kind } : {}) });
  return { subject: { kind: "user", id }, people };
}
