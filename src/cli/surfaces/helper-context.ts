/**
 * CLAUDE_HELPER_CONTEXT (Claude Desktop tells its credential helper why it runs) -> whether this
 * run may open a browser, and how long it may take in all. No imports: `token` loads this only
 * when the cached token is not fresh.
 *
 *   interactive          a person is there (app start): browser allowed with a display, even
 *                        without a TTY (Desktop runs the helper without one); macOS and Windows
 *                        always have a desktop. Budget 50 s (Desktop kills after ~60 s).
 *   mid-session-refresh  never a browser; store or silent refresh; budget 15 s (Desktop: ~20 s).
 *   scheduled-task, background, setup-test
 *                        never a browser; budget 50 s (Desktop: ~60 s).
 *   unknown value        treated as non-interactive (a new background kind must never open tabs),
 *                        and said so; budget 15 s.
 *   absent               today's rule (Claude Code, a shell): a terminal and a display; no budget
 *                        of its own (the login timeout applies).
 * CI never opens a browser, whatever the context.
 */

export const HELPER_CONTEXTS = ["interactive", "mid-session-refresh", "scheduled-task", "background", "setup-test"] as const;
export type HelperContext = (typeof HELPER_CONTEXTS)[number];

export interface HelperFacts {
  env: Readonly<Record<string, string | undefined>>;
  platform: string;
  /** A controlling terminal opens (environment.ts hasControllingTerminal). */
  hasTerminal: boolean;
  /** A display on Linux (DISPLAY, WAYLAND_DISPLAY, BROWSER, WSL: environment.ts hasDisplay). */
  hasDisplay: boolean;
  isCI: boolean;
}

export interface HelperPolicy {
  /** The recognised context, "unknown" for another value, "none" without the variable. */
  context: HelperContext | "unknown" | "none";
  mayOpenBrowser: boolean;
  /** Why no browser may be opened (completes "you are not logged in, and ..."); null when one may. */
  blocker: string | null;
  /** The whole run's deadline (lock wait + refresh + login), ms; undefined: no limit of Desktop's. */
  budgetMs: number | undefined;
  /** A line for stderr (an unknown value), or null. */
  note: string | null;
}

export const MID_SESSION_BUDGET_MS = 15_000;
export const DESKTOP_BUDGET_MS = 50_000;

/** Untrusted text: shown only when it is a plain word. */
function shown(value: string): string {
  return /^[A-Za-z0-9._-]{1,40}$/.test(value) ? `"${value}"` : "(an unrecognised value)";
}

const isDesktopOs = (platform: string) => platform === "darwin" || platform === "win32";

export function helperPolicy(facts: HelperFacts): HelperPolicy {
  const raw = facts.env.CLAUDE_HELPER_CONTEXT;
  const display = facts.hasDisplay || isDesktopOs(facts.platform);
  if (raw === undefined || raw === "") {
    const blocker = facts.isCI ? "$CI is set" : !facts.hasTerminal ? "there is no terminal" : !display ? "there is no display to open a browser on (no DISPLAY, WAYLAND_DISPLAY or BROWSER)" : null;
    return { context: "none", mayOpenBrowser: blocker === null, blocker, budgetMs: undefined, note: null };
  }
  const context = (HELPER_CONTEXTS as readonly string[]).includes(raw) ? (raw as HelperContext) : "unknown";
  if (context === "interactive") {
    const blocker = facts.isCI ? "$CI is set" : !display ? "Claude Desktop asked for an interactive sign-in, but there is no display to open a browser on" : null;
    return { context, mayOpenBrowser: blocker === null, blocker, budgetMs: DESKTOP_BUDGET_MS, note: null };
  }
  if (context === "unknown") {
    return {
      context,
      mayOpenBrowser: false,
      blocker: `the caller's CLAUDE_HELPER_CONTEXT=${shown(raw)} is not one this version knows, so no browser is opened`,
      budgetMs: MID_SESSION_BUDGET_MS,
      note: `agent-runner-auth: CLAUDE_HELPER_CONTEXT=${shown(raw)} is not a known context (${HELPER_CONTEXTS.join(", ")}); treated as non-interactive.`,
    };
  }
  return {
    context,
    mayOpenBrowser: false,
    blocker: `Claude Desktop runs this helper in the background (CLAUDE_HELPER_CONTEXT=${context}), where no browser may be opened`,
    budgetMs: context === "mid-session-refresh" ? MID_SESSION_BUDGET_MS : DESKTOP_BUDGET_MS,
    note: null,
  };
}

/** A time limit inside the budget: the smaller of `wantedMs` and what is left of the budget. */
export function withinBudget(wantedMs: number, policy: Pick<HelperPolicy, "budgetMs">, elapsedMs: number): number {
  if (policy.budgetMs === undefined) return wantedMs;
  return Math.max(0, Math.min(wantedMs, policy.budgetMs - elapsedMs));
}
