import { describe, expect, test } from "bun:test";
import { budgetLimitOf, ConsoleInputError, parseBudgetInput, parseLimitInput, parseRange, parseRestore, parseRevocationInput, parseTableQuery, presetRange, rangeLength } from "./console-api.ts";
import { csvField, toCsv } from "./csv.ts";

const p = (q: Record<string, string>) => new URLSearchParams(q);
const refused = (fn: () => unknown, field: string) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConsoleInputError);
    expect((e as ConsoleInputError).field).toBe(field);
    return;
  }
  throw new Error("accepted");
};

describe("ranges", () => {
  test("default: this month to today; at most 400 days; real days only; from before to", () => {
    expect(parseRange(p({}), "2026-11-29")).toEqual({ from: "2026-11-01", to: "2026-11-29" });
    expect(rangeLength(parseRange(p({ from: "2025-10-26", to: "2026-11-29" }), "2026-11-29"))).toBe(400);
    refused(() => parseRange(p({ from: "2025-10-25", to: "2026-11-29" }), "2026-11-29"), "from");
    refused(() => parseRange(p({ from: "2026-02-30", to: "2026-03-01" }), "2026-11-29"), "from");
    refused(() => parseRange(p({ from: "2026-03-02", to: "2026-03-01" }), "2026-11-29"), "from");
    refused(() => parseRange(p({ to: "yesterday" }), "2026-11-29"), "to");
  });
  test("presets", () => {
    expect(presetRange("today", "2026-11-29")).toEqual({ from: "2026-11-29", to: "2026-11-29" });
    expect(presetRange("7d", "2026-11-29")).toEqual({ from: "2026-11-23", to: "2026-11-29" });
    expect(presetRange("30d", "2026-03-01")).toEqual({ from: "2026-01-31", to: "2026-03-01" });
    expect(presetRange("month", "2026-11-29")).toEqual({ from: "2026-11-01", to: "2026-11-29" });
    refused(() => presetRange("custom", "2026-11-29", { from: "2020-01-01", to: "2026-11-29" }), "from");
  });
});

test("table queries: sort, direction, page bounds, a larger page for CSV", () => {
  expect(parseTableQuery(p({}), "2026-11-29")).toMatchObject({ sort: "cost_micro_usd", dir: "desc", offset: 0, limit: 50, format: "json", q: "" });
  expect(parseTableQuery(p({ sort: "name" }), "2026-11-29").dir).toBe("asc");
  expect(parseTableQuery(p({ format: "csv" }), "2026-11-29").limit).toBe(10_000);
  refused(() => parseTableQuery(p({ sort: "cost; DROP" }), "2026-11-29"), "sort");
  refused(() => parseTableQuery(p({ limit: "501" }), "2026-11-29"), "limit");
  refused(() => parseTableQuery(p({ offset: "-1" }), "2026-11-29"), "offset");
  refused(() => parseTableQuery(p({ q: "x".repeat(101) }), "2026-11-29"), "q");
  refused(() => parseTableQuery(p({ format: "xml" }), "2026-11-29"), "format");
});

test("budget, limit and revocation bodies", () => {
  const b = parseBudgetInput({ kind: "user", id: " demo ", period: "month", unit: "usd", amount: "12.5" });
  expect(b).toEqual({ subject: { kind: "user", id: "demo" }, period: "month", unit: "usd", amount: 12.5, soft: false });
  expect(budgetLimitOf(b)).toBe(12_500_000);
  expect(budgetLimitOf(parseBudgetInput({ kind: "tenant", period: "day", unit: "tokens", amount: 5000, soft: true }))).toBe(5000);
  expect(parseBudgetInput({ kind: "tenant", id: "ignored", period: "day", unit: "usd", amount: 1 }).subject).toEqual({ kind: "tenant", id: "*" });
  refused(() => parseBudgetInput({ kind: "user", id: "", period: "month", unit: "usd", amount: 1 }), "id");
  refused(() => parseBudgetInput({ kind: "user", id: "d", period: "month", unit: "usd", amount: -1 }), "amount");
  refused(() => parseBudgetInput({ kind: "user", id: "d", period: "month", unit: "tokens", amount: 1.5 }), "amount");
  refused(() => parseBudgetInput({ kind: "user", id: "d", period: "month", unit: "usd", amount: 0.0000001 }), "amount");
  refused(() => parseBudgetInput([]), "body");
  expect(parseLimitInput({ kind: "group", id: "eng", rpm: "60" })).toEqual({ subject: { kind: "group", id: "eng" }, rpm: 60, tpm: null });
  refused(() => parseLimitInput({ kind: "group", id: "eng" }), "rpm");
  expect(parseRevocationInput({ user: "demo", reason: "  left  " })).toEqual({ user: "demo", reason: "left" });
  refused(() => parseRevocationInput({ user: "a", session: "b" }), "user");
  refused(() => parseRestore(p({ kind: "everyone", value: "x" })), "kind");
});

test("CSV: RFC 4180 quoting, formulas made inert, numbers as they are", () => {
  expect(csvField('a "b", c')).toBe('"a ""b"", c"');
  expect(csvField("=1+1")).toBe("'=1+1");
  expect(csvField("-5")).toBe("'-5");
  expect(csvField(-5)).toBe("-5");
  expect(toCsv(["a", "b"], [["x", 1], [null, "@y"]])).toBe("a,b\r\nx,1\r\n,'@y\r\n");
});
