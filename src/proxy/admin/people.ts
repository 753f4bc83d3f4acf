/**
 * The admin operations that name a person (`user`: revoke, restore, budgets, limits), resolved
 * against the people the gateway has seen (auth/people-seen.ts), so a value matches the person
 * however it names them: sub, username or e-mail (compared without regard to case), or only the
 * `kind` the admin forces. Every answer says what it matched; nothing is confirmed that did not
 * happen.
 *
 * - revoke: a revocation of kind `user` (or the forced kind) for the value itself, so it also
 *   applies to someone not seen yet, when they first appear; plus one by `sub` for each person
 *   matched (their tokens may not carry the identifier named, e.g. an e-mail only userInfo knows).
 * - restore: lifts every revocation in force under any identifier of the people matched, and
 *   under the value itself.
 * - budgets and limits: by value (matching any identifier) as before; with a forced kind, by the
 *   sub of the one person seen with that identifier.
 */
import type { ProxyContext } from "../http/context.ts";
import { BadInput } from "../http/errors.ts";
import type { MatchedJson, Revocation as RevocationJson, RestoreJson, RevokeJson, SeenPersonJson } from "../../shared/gateway-api.ts";
import { matchedBy, normaliseUserId, type SeenPerson, type UserKind } from "../model/person.ts";
import { revocationValue, type Revocation, type RevocationKind } from "../model/revocations.ts";

/** A value an admin gave that names nobody it could apply to: refused as bad input (400) with this message. */
export class UnknownPerson extends BadInput {}

export const USER_KINDS: readonly UserKind[] = ["sub", "username", "email"];

const iso = (t: number) => new Date(t).toISOString();

export function personJson(p: SeenPerson, value: string): SeenPersonJson {
  return {
    sub: p.sub,
    ...(p.username !== undefined ? { username: p.username } : {}),
    ...(p.email !== undefined ? { email: p.email } : {}),
    display_name: p.displayName,
    matched_by: matchedBy(p, value),
    first_seen: iso(p.firstSeen),
    last_seen: iso(p.lastSeen),
  };
}

export function revocationJson(r: Revocation): RevocationJson {
  return { kind: r.kind, value: r.value, at: iso(r.at), until: iso(r.until), ...(r.by ? { by: r.by } : {}), ...(r.reason ? { reason: r.reason } : {}) };
}

/** What the answer says when nobody seen has that name. */
export const notSeenNote = (value: string, kind: UserKind | undefined) =>
  `no token seen for ${value}: no person whose ${kind ?? "sub, username or e-mail"} is ${value} has used this gateway yet`;

export interface UserTarget {
  value: string;
  kind?: UserKind;
}

/** `matched` (and the note when nobody seen has that name) for an answer about a user; nothing for a group or the tenant. */
export function matchedJson(value: string, kind: UserKind | undefined, people: SeenPerson[] | undefined): MatchedJson {
  if (!people) return {};
  return { matched: people.map((p) => personJson(p, value)), ...(people.length === 0 ? { note: `${notSeenNote(value, kind)}; it applies when they first appear` } : {}) };
}

/** Revokes a person by any identifier (or the forced kind), and every person seen under it by sub. */
export async function revokeUser(ctx: ProxyContext, tenant: string, target: UserTarget, by: string, reason: string | undefined): Promise<RevokeJson> {
  const people = await ctx.state.findPeople(tenant, target.value, target.kind);
  const at = Date.now();
  const until = at + ctx.revocationTtlMs;
  const base = { tenant, at, until, by, ...(reason !== undefined ? { reason } : {}) };
  const kind: RevocationKind = target.kind ?? "user";
  const primary: Revocation = { ...base, kind, value: revocationValue(kind, target.value) };
  // by sub too, unless the primary one already names exactly that sub
  const covered = (sub: string) => (kind === "user" && normaliseUserId(sub) === primary.value) || (kind === "sub" && sub === primary.value);
  const bySub: Revocation[] = people.filter((p) => !covered(p.sub)).map((p) => ({ ...base, kind: "sub", value: p.sub }));
  const all = [primary, ...bySub];
  for (const r of all) await ctx.state.revoke(r);
  ctx.denylist.forget();
  return {
    ...revocationJson(primary),
    matched: people.map((p) => personJson(p, target.value)),
    revocations: all.map(revocationJson),
    ...(people.length === 0 ? { note: `${notSeenNote(target.value, target.kind)}; revoked anyway: it applies when they first appear` } : {}),
  };
}

/** Lifts every revocation of the people the value names, under any of their identifiers, and of the value itself. */
export async function restoreUser(ctx: ProxyContext, tenant: string, target: UserTarget): Promise<RestoreJson> {
  const people = await ctx.state.findPeople(tenant, target.value, target.kind);
  const own = normaliseUserId(target.value);
  // the value itself under the forced kind only (someone else may have it as another identifier)
  const kindsOfValue = new Set<RevocationKind>(target.kind ? ["user", target.kind] : ["user", ...USER_KINDS]);
  const personIds = new Set(people.flatMap((p) => [p.sub, p.username, p.email].filter((v): v is string => v !== undefined).map(normaliseUserId)));
  const inForce = await ctx.state.listRevocations(tenant);
  const lifting = inForce.filter((r) => {
    if (r.kind === "origin_jti") return false;
    const v = normaliseUserId(r.value);
    return personIds.has(v) || (v === own && kindsOfValue.has(r.kind));
  });
  const lifted: Revocation[] = [];
  for (const r of lifting) if (await ctx.state.restore(tenant, r.kind, r.value)) lifted.push(r);
  ctx.denylist.forget();
  // the revocation named like the value first, then the others (by sub…)
  const order = (r: Revocation) => (normaliseUserId(r.value) === own ? 0 : 1);
  lifted.sort((x, y) => order(x) - order(y));
  return {
    restored: lifted.length > 0,
    kind: target.kind ?? "user",
    value: target.value,
    matched: people.map((p) => personJson(p, target.value)),
    lifted: lifted.map(revocationJson),
    ...(people.length === 0 ? { note: notSeenNote(target.value, target.kind) } : {}),
  };
}

/** Lifts a signed-out session early. */
export async function restoreSession(ctx: ProxyContext, tenant: string, session: string): Promise<RestoreJson> {
  const inForce = (await ctx.state.listRevocations(tenant)).filter((r) => r.kind === "origin_jti" && r.value === session);
  const lifted: Revocation[] = [];
  for (const r of inForce) if (await ctx.state.restore(tenant, r.kind, r.value)) lifted.push(r);
  ctx.denylist.forget();
  return { restored: lifted.length > 0, kind: "origin_jti", value: session, lifted: lifted.map(revocationJson) };
}

/**
 * The stored user id a budget or limit is set under: the value (matching any identifier), or with
 * a forced kind the sub of the one person seen under it. Also who it matches today.
 */
export async function settingSubject(ctx: ProxyContext, tenant: string, target: UserTarget): Promise<{ id: string; people: SeenPerson[] }> {
  const people = await ctx.state.findPeople(tenant, target.value, target.kind);
  if (!target.kind) return { id: target.value, people };
  const only = people[0];
  if (!only) throw new UnknownPerson(`${notSeenNote(target.value, target.kind)}, so there is no sub to set it for; leave out kind to set it for whoever has ${target.value} as sub, username or e-mail`);
  if (people.length > 1) throw new UnknownPerson(`${people.length} people seen have the ${target.kind} ${target.value} (subs ${people.map((p) => p.sub).join(", ")}): name one by sub`);
  return { id: only.sub, people };
}

/** Every stored user id that names the people a value matches (for clearing their budgets or limits), and them. */
export async function settingIds(ctx: ProxyContext, tenant: string, target: UserTarget): Promise<{ ids: string[]; people: SeenPerson[] }> {
  const people = await ctx.state.findPeople(tenant, target.value, target.kind);
  const ids = new Set([normaliseUserId(target.value), ...people.flatMap((p) => [p.sub, p.username, p.email].filter((v): v is string => v !== undefined).map(normaliseUserId))]);
  return { ids: [...ids], people };
}
