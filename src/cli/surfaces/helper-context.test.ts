import { describe, expect, test } from "bun:test";
import { DESKTOP_BUDGET_MS, helperPolicy, MID_SESSION_BUDGET_MS, withinBudget, type HelperFacts } from "./helper-context.ts";

const facts = (over: Partial<HelperFacts> & { ctx?: string } = {}): HelperFacts => ({
  env: over.ctx === undefined ? {} : { CLAUDE_HELPER_CONTEXT: over.ctx },
  platform: "linux",
  hasTerminal: false,
  hasDisplay: false,
  isCI: false,
  ...over,
});

describe("helperPolicy", () => {
  test("absent: today's rule, terminal AND display, no budget", () => {
    expect(helperPolicy(facts({ hasTerminal: true, hasDisplay: true }))).toMatchObject({ context: "none", mayOpenBrowser: true, blocker: null, budgetMs: undefined });
    expect(helperPolicy(facts({ hasDisplay: true })).blocker).toBe("there is no terminal");
    expect(helperPolicy(facts({ hasTerminal: true })).blocker).toMatch(/no display/);
    expect(helperPolicy(facts({ hasTerminal: true, platform: "darwin" })).mayOpenBrowser).toBe(true);
    expect(helperPolicy(facts({ hasTerminal: true, hasDisplay: true, isCI: true })).blocker).toBe("$CI is set");
    expect(helperPolicy(facts({ ctx: "", hasTerminal: true, hasDisplay: true })).context).toBe("none");
  });
  test("interactive: a display is enough, no TTY needed; macOS and Windows always; 50 s", () => {
    expect(helperPolicy(facts({ ctx: "interactive", hasDisplay: true }))).toMatchObject({ context: "interactive", mayOpenBrowser: true, budgetMs: DESKTOP_BUDGET_MS });
    expect(helperPolicy(facts({ ctx: "interactive", platform: "darwin" })).mayOpenBrowser).toBe(true);
    expect(helperPolicy(facts({ ctx: "interactive", platform: "win32" })).mayOpenBrowser).toBe(true);
    const headless = helperPolicy(facts({ ctx: "interactive", hasTerminal: true }));
    expect(headless.mayOpenBrowser).toBe(false);
    expect(headless.blocker).toMatch(/no display/);
    expect(helperPolicy(facts({ ctx: "interactive", platform: "darwin", isCI: true })).mayOpenBrowser).toBe(false);
  });
  test.each(["mid-session-refresh", "scheduled-task", "background", "setup-test"])("%s: never a browser, even at a terminal with a display", (ctx) => {
    const p = helperPolicy(facts({ ctx, hasTerminal: true, hasDisplay: true, platform: "darwin" }));
    expect(p.mayOpenBrowser).toBe(false);
    expect(p.blocker).toContain(`CLAUDE_HELPER_CONTEXT=${ctx}`);
    expect(p.budgetMs).toBe(ctx === "mid-session-refresh" ? MID_SESSION_BUDGET_MS : DESKTOP_BUDGET_MS);
    expect(p.note).toBeNull();
  });
  test("budgets stay inside Desktop's reported limits (~20 s mid-session, ~60 s otherwise)", () => {
    expect(MID_SESSION_BUDGET_MS).toBeLessThan(20_000);
    expect(DESKTOP_BUDGET_MS).toBeLessThan(60_000);
  });
  test("unknown value: non-interactive, said so, hostile text not echoed", () => {
    const p = helperPolicy(facts({ ctx: "foreground", hasTerminal: true, hasDisplay: true }));
    expect(p).toMatchObject({ context: "unknown", mayOpenBrowser: false, budgetMs: MID_SESSION_BUDGET_MS });
    expect(p.note).toContain(`"foreground"`);
    const hostile = helperPolicy(facts({ ctx: "\u001b]52;c;AAAA\u0007" }));
    expect(hostile.note).not.toMatch(/\u001b|AAAA/);
    expect(hostile.blocker).toContain("an unrecognised value");
    expect(helperPolicy(facts({ ctx: "Interactive", platform: "darwin" })).mayOpenBrowser).toBe(false);
  });
});

test("withinBudget: the smaller of the wish and what is left; never negative; no budget, no cap", () => {
  expect(withinBudget(360_000, { budgetMs: 15_000 }, 4_000)).toBe(11_000);
  expect(withinBudget(5_000, { budgetMs: 15_000 }, 4_000)).toBe(5_000);
  expect(withinBudget(5_000, { budgetMs: 15_000 }, 20_000)).toBe(0);
  expect(withinBudget(360_000, { budgetMs: undefined }, 99_000)).toBe(360_000);
});
