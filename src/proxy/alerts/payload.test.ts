import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { jsonPayload, signature, slackText, webhookRequest } from "./payload.ts";
import { alertKey, alertsFor, reachedThresholds } from "./thresholds.ts";
import type { BudgetObservation } from "./types.ts";

const DAY_END = Date.UTC(2026, 11, 5);
const carol: BudgetObservation = {
  tenant: "acme",
  scope: "user",
  subject: "sub-carol",
  subjectName: "carol@example.com",
  budget: { name: "groups.contractors.budgets[0]", source: "group contractors", period: "day", unit: "usd", limit: 5_000_000, soft: false },
  periodKey: "2026-12-04",
  spent: 4_020_000,
  resetsAt: DAY_END,
};
const platform: BudgetObservation = { ...carol, scope: "group", subject: "platform", subjectName: "platform", budget: { name: "groups.platform.budgets[0]", source: "group platform", period: "month", unit: "tokens", limit: 1_000_000, soft: true }, periodKey: "2026-12", spent: 500_000, resetsAt: Date.UTC(2027, 0, 1) };

test("thresholds reached: every one at or below the spend", () => {
  expect(reachedThresholds(4_020_000, 5_000_000, [0.5, 0.8, 1.0])).toEqual([0.5, 0.8]);
  expect(reachedThresholds(5_000_000, 5_000_000, [0.5, 0.8, 1.0])).toEqual([0.5, 0.8, 1.0]);
  expect(reachedThresholds(2_499_999, 5_000_000, [0.5, 0.8, 1.0])).toEqual([]);
  expect(reachedThresholds(10, 0, [0.5])).toEqual([]);
});

test("one key per threshold, budget and period: another period, subject, unit or kind is another alert", () => {
  const keys = new Set([
    alertKey(carol, 0.5),
    alertKey(carol, 0.8),
    alertKey({ ...carol, periodKey: "2026-12-05" }, 0.5),
    alertKey({ ...carol, subject: "sub-dave" }, 0.5),
    alertKey({ ...carol, budget: { ...carol.budget, unit: "tokens" } }, 0.5),
    alertKey({ ...carol, budget: { ...carol.budget, soft: true } }, 0.5),
  ]);
  expect(keys.size).toBe(6);
  expect(alertsFor(carol, [0.5, 0.8, 1.0], 1).map((a) => [a.threshold, a.id.length])).toEqual([[0.5, 32], [0.8, 32]]);
});

test("the JSON payload of a person's budget: the issue's fields", () => {
  const [, eighty] = alertsFor(carol, [0.5, 0.8], Date.UTC(2026, 11, 4, 15, 30));
  expect(jsonPayload(eighty!)).toEqual({
    type: "budget.threshold",
    id: eighty!.id,
    tenant: "acme",
    user: "carol@example.com",
    sub: "sub-carol",
    budget: { scope: "user", name: "groups.contractors.budgets[0]", source: "group contractors", period: "day", usd: 5, soft: false },
    threshold: 0.8,
    spent: 4.02,
    resets_at: "2026-12-05T00:00:00Z",
    detected_at: "2026-12-04T15:30:00Z",
  });
});

test("a group's token budget: group instead of user, tokens instead of usd", () => {
  const [half] = alertsFor(platform, [0.5], 0);
  const body = jsonPayload(half!);
  expect(body).toMatchObject({ group: "platform", budget: { scope: "group", tokens: 1_000_000, soft: true, period: "month" }, spent: 500_000, resets_at: "2027-01-01T00:00:00Z" });
  expect(body.user).toBeUndefined();
});

test("the signature is the hex HMAC-SHA256 of the exact body with the secret", () => {
  const [alert] = alertsFor(carol, [0.5], 0);
  const { body, headers } = webhookRequest(alert!, "json", "s3cret-s3cret-s3cret");
  expect(headers["x-agent-runner-signature"]).toBe(`sha256=${createHmac("sha256", "s3cret-s3cret-s3cret").update(body).digest("hex")}`);
  expect(headers["x-agent-runner-signature"]).toBe(signature(body, "s3cret-s3cret-s3cret"));
  expect(headers["x-agent-runner-alert-id"]).toBe(alert!.id);
  expect(JSON.parse(body).type).toBe("budget.threshold");
  expect(webhookRequest(alert!, "slack", undefined).headers["x-agent-runner-signature"]).toBeUndefined();
});

test("slack: one text line, names escaped for mrkdwn", () => {
  const [, eighty] = alertsFor({ ...carol, subjectName: "<@channel> & co" }, [0.5, 0.8], 0);
  expect(slackText(eighty!)).toBe("Budget alert (acme): &lt;@channel&gt; &amp; co has used 80% of the daily $5.00 budget (groups.contractors.budgets[0]): $4.02 spent, resets 2026-12-05 00:00 UTC.");
  expect(JSON.parse(webhookRequest(eighty!, "slack", undefined).body)).toEqual({ text: slackText(eighty!) });
  const [half] = alertsFor(platform, [0.5], 0);
  expect(slackText(half!)).toBe("Budget alert (acme): group platform has used 50% of the soft monthly 1,000,000 tokens budget (groups.platform.budgets[0]): 500,000 tokens spent, resets 2027-01-01 00:00 UTC.");
});

test("a hard budget refusing requests short of its limit: its top threshold up to 100 % is reached (the same alert as by spend, once), said as a refusal", () => {
  // $4.02 of $5.00: the next request's estimate does not fit, so the spend never reaches 100 %
  const refusing = { ...carol, refusing: true as const };
  expect(alertsFor(refusing, [0.5, 0.8, 1.0], 0).map((a) => a.threshold)).toEqual([0.5, 0.8, 1.0]);
  expect(alertsFor({ ...refusing, spent: 1_000_000 }, [0.5, 0.8, 1.0], 0).map((a) => a.threshold)).toEqual([1.0]); // not the ones the spend did not reach
  expect(alertsFor({ ...refusing, spent: 1_000_000 }, [0.5, 0.9, 2], 0).map((a) => a.threshold)).toEqual([0.9]); // the top one up to 100 %
  const [full] = alertsFor(refusing, [1.0], 0);
  expect(full!.key).toBe(alertKey(carol, 1.0)); // sent once, whether spend or a refusal reached it first
  expect(jsonPayload(full!)).toMatchObject({ threshold: 1, spent: 4.02, refusing: true });
  expect(slackText(full!)).toBe("Budget alert (acme): carol@example.com's requests are refused by the daily $5.00 budget (groups.contractors.budgets[0]): $4.02 spent, the next request does not fit; it resets 2026-12-05 00:00 UTC.");
  expect(jsonPayload(alertsFor(carol, [0.5], 0)[0]!).refusing).toBeUndefined();
});
