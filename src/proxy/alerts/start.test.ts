import { describe, expect, test } from "bun:test";
import type { BudgetStatus } from "../model/budgets.ts";
import type { Person } from "../model/person.ts";
import { observationOf } from "./start.ts";

const carol: Person = { tenant: "acme", sub: "sub-carol", username: "carol", displayName: "carol@example.com", groups: ["platform"] };
const NOW = Date.parse("2026-12-04T15:30:00Z");
const status = (subject: BudgetStatus["budget"]["subject"], extra: Partial<BudgetStatus> = {}): BudgetStatus => ({
  budget: { tenant: "acme", subject, period: "month", unit: "usd", limit: 5_000_000, soft: false },
  used: 4_200_000,
  held: 200_000,
  remaining: 800_000,
  resetsAt: Date.parse("2027-01-01T00:00:00Z"),
  ...extra,
});

describe("observationOf: a budget's figures after settle, as alerts see them", () => {
  test("a person's budget: their sub and display name, the settled spend (requests in flight left out), the period's key", () => {
    expect(observationOf(carol, status({ kind: "user", id: "carol" }), NOW)).toEqual({
      tenant: "acme",
      scope: "user",
      subject: "sub-carol",
      subjectName: "carol@example.com",
      budget: { name: "admin API", source: "admin API", period: "month", unit: "usd", limit: 5_000_000, soft: false },
      periodKey: "2026-12",
      spent: 4_000_000,
      resetsAt: Date.parse("2027-01-01T00:00:00Z"),
    });
  });

  test("a group's budget names the group; the tenant's names the tenant; a day budget keys the day", () => {
    expect(observationOf(carol, status({ kind: "group", id: "platform" }), NOW)).toMatchObject({ scope: "group", subject: "platform", subjectName: "platform" });
    expect(observationOf(carol, status({ kind: "tenant", id: "*" }), NOW)).toMatchObject({ scope: "tenant", subject: "*", subjectName: "acme" });
    const day = status({ kind: "user", id: "sub-carol" });
    day.budget.period = "day";
    expect(observationOf(carol, day, NOW).periodKey).toBe("2026-12-04");
  });

  test("a budget of the tenant policy is named by its member and source", () => {
    const pooled = status({ kind: "group", id: "platform" });
    pooled.budget.policy = { name: "groups.platform.budgets[0]", source: "group platform" };
    expect(observationOf(carol, pooled, NOW).budget).toMatchObject({ name: "groups.platform.budgets[0]", source: "group platform" });
  });
});
