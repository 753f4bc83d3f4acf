/** Whom a budget or a rate limit applies to, and what a person's spend and requests count against. */
import type { Person } from "./person.ts";

export type SubjectKind = "user" | "group" | "tenant";
/** A user is named by `sub`, username or email (emails compared lower-case); a tenant by "*". */
export interface Subject {
  kind: SubjectKind;
  id: string;
}

/** The subjects a person's spend and requests count against; a user always by sub. */
export function subjectsOf(person: Pick<Person, "sub" | "groups">): Subject[] {
  return [{ kind: "user", id: person.sub }, ...[...new Set(person.groups)].map((g): Subject => ({ kind: "group", id: g })), { kind: "tenant", id: "*" }];
}

export const subjectKey = (s: Subject) => `${s.kind}:${s.id}`;
